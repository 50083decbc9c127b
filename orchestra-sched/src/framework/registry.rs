//! `Registry`: plugin factories by name.
//!
//! A profile names plugins; the registry turns each name into a [`PluginInstance`] by calling
//! the factory registered under it with the plugin's configured arguments and the scheduler's
//! [`Handle`]. [`Registry::with_default_plugins`] has Kubernetes' default plugins; add your own
//! with [`Registry::register`].

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use orchestra_api::validation::FieldError;

use crate::config::ConfigError;
use crate::config::args::PluginArgs;
use crate::framework::handle::Handle;
use crate::framework::plugin::PluginInstance;

/// Builds a plugin from its arguments.
pub type PluginFactory =
    Arc<dyn Fn(&PluginArgs<'_>, &Arc<Handle>) -> Result<PluginInstance, ConfigError> + Send + Sync>;

/// Plugin factories by name. See the module docs.
#[derive(Clone, Default)]
pub struct Registry {
    factories: BTreeMap<String, PluginFactory>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Registry {
        Registry::default()
    }

    /// A registry with Kubernetes' default plugins.
    pub fn with_default_plugins() -> Registry {
        crate::plugins::default_registry()
    }

    /// Registers a factory; an error if the name is taken.
    pub fn register(
        &mut self,
        name: &str,
        factory: impl Fn(&PluginArgs<'_>, &Arc<Handle>) -> Result<PluginInstance, ConfigError>
        + Send
        + Sync
        + 'static,
    ) -> Result<(), ConfigError> {
        if self.factories.contains_key(name) {
            return Err(ConfigError::message(format!(
                "a plugin named {name:?} already exists"
            )));
        }
        self.factories.insert(name.to_owned(), Arc::new(factory));
        Ok(())
    }

    /// Registers a factory, replacing one of the same name.
    pub fn replace(
        &mut self,
        name: &str,
        factory: impl Fn(&PluginArgs<'_>, &Arc<Handle>) -> Result<PluginInstance, ConfigError>
        + Send
        + Sync
        + 'static,
    ) {
        self.factories.insert(name.to_owned(), Arc::new(factory));
    }

    /// Whether a name is registered.
    pub fn contains(&self, name: &str) -> bool {
        self.factories.contains_key(name)
    }

    /// The registered names.
    pub fn names(&self) -> impl Iterator<Item = &str> + '_ {
        self.factories.keys().map(String::as_str)
    }

    /// Builds the plugin `name`.
    pub fn build(
        &self,
        name: &str,
        args: &PluginArgs<'_>,
        handle: &Arc<Handle>,
    ) -> Result<PluginInstance, ConfigError> {
        let Some(factory) = self.factories.get(name) else {
            return Err(ConfigError::field(FieldError::not_found(
                args.path.clone(),
                name,
            )));
        };
        let instance = factory(args, handle)?;
        if instance.name() != name {
            return Err(ConfigError::message(format!(
                "the factory registered as {name:?} built a plugin named {:?}",
                instance.name()
            )));
        }
        Ok(instance)
    }
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.factories.keys()).finish()
    }
}
