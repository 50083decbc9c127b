//! Container image references (`registry.example.com:5000/team/app:1.2@sha256:…`) parsed the
//! way Kubernetes parses them to choose a default `imagePullPolicy`.
//!
//! Kubernetes normalizes a reference the way Docker does (`nginx` is
//! `docker.io/library/nginx`), checks it against the distribution reference grammar, and reads
//! its tag: a reference without tag and without digest means tag `latest`. A reference that does
//! not parse has no tag at all, so its policy is `IfNotPresent` (validation rejects it later).

/// The pull policy Kubernetes gives a container (or an `image` volume) that does not set one:
/// `Always` when the image's tag is `latest` or it has neither tag nor digest, else
/// `IfNotPresent` (including images pinned by digest and references that do not parse).
///
/// ```
/// use orchestra_api::defaulting::default_image_pull_policy;
/// assert_eq!(default_image_pull_policy("nginx"), "Always");
/// assert_eq!(default_image_pull_policy("nginx:latest"), "Always");
/// assert_eq!(default_image_pull_policy("nginx:1.27"), "IfNotPresent");
/// assert_eq!(default_image_pull_policy("localhost:5000/app"), "Always");
/// ```
pub fn default_image_pull_policy(image: &str) -> &'static str {
    match parse(image) {
        Some(reference) if reference.tag == Some("latest") => "Always",
        Some(ImageReference {
            tag: None,
            digest: None,
        }) => "Always",
        _ => "IfNotPresent",
    }
}

/// The parts of a valid image reference that defaulting looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ImageReference<'a> {
    /// The tag after the last `:` of the name, if any.
    tag: Option<&'a str>,
    /// The digest after `@`, if any.
    digest: Option<&'a str>,
}

/// Docker Hub's registry, the default domain.
const DEFAULT_DOMAIN: &str = "docker.io";
/// The longest repository name a reference may have.
const NAME_TOTAL_LENGTH_MAX: usize = 255;

/// Parses `image` as `ParseNormalizedNamed` of `github.com/distribution/reference` v0.6.0 does
/// (the version vendored by Kubernetes v1.33); `None` when it would return an error.
fn parse(image: &str) -> Option<ImageReference<'_>> {
    // A bare 64-hex-digit string is an image ID, not a name.
    if image.len() == 64
        && image
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return None;
    }
    let (domain, remainder) = split_docker_domain(image);
    let remote = remainder.split(':').next().unwrap_or(remainder);
    if remote.chars().any(char::is_uppercase) {
        return None;
    }
    let official_prefix = if domain == DEFAULT_DOMAIN && !remainder.contains('/') {
        "library/"
    } else {
        ""
    };

    // The reference grammar: name [":" tag] ["@" digest].
    let (before_digest, digest) = match remainder.split_once('@') {
        Some((name_and_tag, digest)) => (name_and_tag, Some(digest)),
        None => (remainder, None),
    };
    let (name_path, tag) = match before_digest.rsplit_once(':') {
        // A `:` after the last `/` starts the tag; the remainder's path components cannot
        // contain one, so there is no other reading.
        Some((name, tag)) if !tag.contains('/') => (name, Some(tag)),
        _ => (before_digest, None),
    };
    let name_len = domain.len() + 1 + official_prefix.len() + name_path.len();
    if name_len > NAME_TOTAL_LENGTH_MAX {
        return None;
    }
    let components = std::iter::once(domain)
        .chain(official_prefix.strip_suffix('/'))
        .chain(name_path.split('/'));
    if !is_name(components) {
        return None;
    }
    if tag.is_some_and(|tag| !is_tag(tag)) || digest.is_some_and(|digest| !is_digest(digest)) {
        return None;
    }
    Some(ImageReference { tag, digest })
}

/// Splits a reference into its registry domain and the rest, as Docker's normalization does.
fn split_docker_domain(image: &str) -> (&str, &str) {
    let Some((maybe_domain, rest)) = image.split_once('/') else {
        return (DEFAULT_DOMAIN, image);
    };
    if maybe_domain == "localhost" {
        (maybe_domain, rest)
    } else if maybe_domain == "index.docker.io" {
        (DEFAULT_DOMAIN, rest)
    } else if maybe_domain.contains(['.', ':']) || maybe_domain.chars().any(char::is_uppercase) {
        // Looks like a host name, an address with a port, or (upper case being invalid in
        // Docker Hub namespaces) a domain.
        (maybe_domain, rest)
    } else {
        (DEFAULT_DOMAIN, image)
    }
}

/// Whether the `/`-separated components form a name: an optional `domain[:port]` followed by
/// one or more path components.
fn is_name<'a>(components: impl Iterator<Item = &'a str> + Clone) -> bool {
    let all_paths = components.clone().all(is_path_component);
    let mut rest = components;
    let domain_then_paths = rest.next().is_some_and(is_domain_and_port) && {
        let mut paths = rest.peekable();
        paths.peek().is_some() && paths.all(is_path_component)
    };
    all_paths || domain_then_paths
}

/// `[a-z0-9]+` runs joined by `.`, `_`, `__` or one or more `-`.
fn is_path_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let is_alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !bytes.first().is_some_and(is_alnum) || !bytes.last().is_some_and(is_alnum) {
        return false;
    }
    // Every maximal run of separator characters must be one allowed separator.
    bytes
        .split(is_alnum)
        .filter(|run| !run.is_empty())
        .all(|run| matches!(run, b"." | b"_" | b"__") || run.iter().all(|&b| b == b'-'))
}

/// A host name (`a.b-c.d`) or a bracketed IPv6 address, with an optional numeric port.
fn is_domain_and_port(domain: &str) -> bool {
    let (host, port) = if let Some(bracketed) = domain.strip_prefix('[') {
        let Some((address, after)) = bracketed.split_once(']') else {
            return false;
        };
        if address.is_empty() || !address.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
            return false;
        }
        match after {
            "" => return true,
            _ => match after.strip_prefix(':') {
                Some(port) => ("", port),
                None => return false,
            },
        }
    } else {
        match domain.split_once(':') {
            Some((host, port)) => (host, port),
            None => (domain, ""),
        }
    };
    let port_ok = port.is_empty() && !domain.ends_with(':')
        || !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit());
    let host_ok = host.is_empty() && domain.starts_with('[')
        || !host.is_empty() && host.split('.').all(is_domain_component);
    port_ok && host_ok
}

/// `[a-zA-Z0-9]` or `[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]`.
fn is_domain_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
}

/// `[\w][\w.-]{0,127}`.
fn is_tag(tag: &str) -> bool {
    let word = |b: &u8| b.is_ascii_alphanumeric() || *b == b'_';
    let bytes = tag.as_bytes();
    bytes.len() <= 128
        && bytes.first().is_some_and(word)
        && bytes.iter().all(|b| word(b) || *b == b'.' || *b == b'-')
}

/// A digest of an algorithm the API server knows, with the exact lower-case hex length of that
/// algorithm (any other algorithm is rejected as unsupported).
fn is_digest(digest: &str) -> bool {
    let Some((algorithm, encoded)) = digest.split_once(':') else {
        return false;
    };
    let hex_len = match algorithm {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => return false,
    };
    encoded.len() == hex_len
        && encoded
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "sha256:e9ca5a15f8d5baf80db3afa1d1f4ab7bf4b6fd6ce0f8b6bb4c7bbc6c05b9e6fb";

    #[test]
    fn latest_or_missing_tag_pulls_always() {
        for image in [
            "nginx",
            "nginx:latest",
            "library/nginx",
            "docker.io/library/nginx",
            "index.docker.io/nginx:latest",
            "registry.example.com:5000/team/app",
            "localhost/app",
            "localhost:5000/app",
            "[::1]:5000/app",
            "gcr.io/google-containers/pause",
            "my-registry.local/a/b/c__d.e-f---g",
            &format!("nginx:latest@{SHA}"),
        ] {
            assert_eq!(default_image_pull_policy(image), "Always", "{image}");
        }
    }

    #[test]
    fn tag_other_than_latest_or_digest_pulls_if_not_present() {
        for image in [
            "nginx:1.27",
            "nginx:Latest",
            "registry.example.com:5000/team/app:v2",
            "localhost:5000",
            &format!("nginx@{SHA}"),
            &format!("registry.k8s.io/pause:3.10@{SHA}"),
        ] {
            assert_eq!(default_image_pull_policy(image), "IfNotPresent", "{image}");
        }
    }

    #[test]
    fn unparsable_references_have_no_tag_and_pull_if_not_present() {
        let id = "a".repeat(64);
        let long = format!("{}/app", "a".repeat(300));
        for image in [
            "",
            "Nginx",
            "nginx:",
            "nginx::latest",
            ":latest",
            "nginx@sha256:abc",
            "nginx@md5:0123456789abcdef0123456789abcdef",
            "-nginx",
            "nginx-",
            "ngi..nx",
            "ngi___nx",
            "a//b",
            "/nginx",
            "nginx/",
            "host:port/app",
            "[::1/app",
            &id,
            &long,
            "ümlaut",
            "nginx:1 2",
        ] {
            assert_eq!(
                default_image_pull_policy(image),
                "IfNotPresent",
                "{image:?}"
            );
        }
    }

    #[test]
    fn upper_case_first_component_is_a_domain() {
        assert_eq!(
            parse("MyRegistry/app"),
            Some(ImageReference {
                tag: None,
                digest: None
            })
        );
        assert_eq!(parse("registry/App"), None);
    }

    #[test]
    fn tag_and_digest_are_read_from_the_original_string() {
        let image = format!("example.com/app:v1@{SHA}");
        assert_eq!(
            parse(&image),
            Some(ImageReference {
                tag: Some("v1"),
                digest: Some(SHA)
            })
        );
    }
}
