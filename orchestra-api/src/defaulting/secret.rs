//! Secret defaults: a Secret without a type is `Opaque` (arbitrary user data).

use k8s_openapi::api::core::v1::Secret;

use super::default_string;

/// Defaults a Secret: type `Opaque`.
pub fn default_secret(secret: &mut Secret) {
    default_string(&mut secret.type_, "Opaque");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untyped_secrets_are_opaque_and_typed_ones_keep_their_type() {
        let mut secret = Secret::default();
        default_secret(&mut secret);
        assert_eq!(secret.type_.as_deref(), Some("Opaque"));

        let mut tls = Secret {
            type_: Some("kubernetes.io/tls".into()),
            ..Default::default()
        };
        default_secret(&mut tls);
        assert_eq!(tls.type_.as_deref(), Some("kubernetes.io/tls"));
    }
}
