//! Images and the CRI `ImageService`: pull, list, inspect and remove images.

use std::collections::BTreeMap;

use async_trait::async_trait;

use super::error::CriError;
use super::sandbox::PodSandboxConfig;

/// An image reference (`ImageSpec`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ImageSpec {
    /// The reference (`nginx:1.27`, `registry.k8s.io/pause@sha256:…`).
    pub image: String,
    /// Annotations of the image.
    pub annotations: BTreeMap<String, String>,
    /// The reference as the user wrote it, before any resolution.
    pub user_specified_image: String,
}

impl ImageSpec {
    /// A spec for `image`.
    pub fn new(image: impl Into<String>) -> Self {
        let image = image.into();
        Self {
            user_specified_image: image.clone(),
            image,
            annotations: BTreeMap::new(),
        }
    }
}

/// An image a runtime holds (`Image`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Image {
    /// Its id (a digest).
    pub id: String,
    /// Tags it is known by.
    pub repo_tags: Vec<String>,
    /// Digests it is known by.
    pub repo_digests: Vec<String>,
    /// Its size in bytes.
    pub size: u64,
    /// Pinned images are never garbage-collected.
    pub pinned: bool,
}

/// Which images a list returns (`ImageFilter`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageFilter {
    /// Only this image.
    pub image: Option<ImageSpec>,
}

/// Registry credentials for a pull (`AuthConfig`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthConfig {
    /// User name.
    pub username: String,
    /// Password.
    pub password: String,
    /// Base64 `user:password`.
    pub auth: String,
    /// The registry.
    pub server_address: String,
}

/// How much of the image filesystem is used (`FilesystemUsage`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilesystemUsage {
    /// When the figures were taken, nanoseconds since the Unix epoch.
    pub timestamp: i64,
    /// The mount point of the filesystem.
    pub mountpoint: String,
    /// Bytes used by images.
    pub used_bytes: u64,
    /// Inodes used by images.
    pub inodes_used: u64,
}

/// The CRI `ImageService`: the image half of a container runtime.
#[async_trait]
pub trait ImageService: Send + Sync {
    /// Lists the images (`ListImages`).
    async fn list_images(&self, filter: &ImageFilter) -> Result<Vec<Image>, CriError>;

    /// The image, or `None` if the runtime does not have it (`ImageStatus`).
    async fn image_status(&self, image: &ImageSpec) -> Result<Option<Image>, CriError>;

    /// Pulls an image and answers with its reference by digest (`PullImage`). The sandbox
    /// config is that of the pod the image is pulled for.
    async fn pull_image(
        &self,
        image: &ImageSpec,
        auth: Option<&AuthConfig>,
        sandbox_config: Option<&PodSandboxConfig>,
    ) -> Result<String, CriError>;

    /// Removes an image (`RemoveImage`); removing one that is absent succeeds.
    async fn remove_image(&self, image: &ImageSpec) -> Result<(), CriError>;

    /// Usage of the image filesystem (`ImageFsInfo`).
    async fn image_fs_info(&self) -> Result<Vec<FilesystemUsage>, CriError>;
}
