//! Content negotiation: the encoding a response is written in, chosen from the request's
//! `Accept` header as Kubernetes' API server chooses it.
//!
//! The header is a list of media ranges, best first by `q` (then in the order written). The
//! first range this server can write wins: `application/json` (and `*/*`, `application/*`),
//! `application/yaml`, or `application/vnd.kubernetes.protobuf`. A range may ask for a
//! transformation with `as=Table;g=meta.k8s.io;v=v1` (or `v1beta1`): only object and list
//! endpoints can make tables, and only in JSON or YAML, as in Kubernetes; elsewhere (discovery,
//! `Status` errors) such a range is passed over.
//!
//! Two choices differ from plain first-match, on purpose:
//!
//! - Protobuf is written only when the client accepts nothing else this server can write
//!   (kubectl's typed commands send `application/vnd.kubernetes.protobuf, */*` and get JSON),
//!   since not every kind has a protobuf encoding here.
//! - When nothing in the header can be written, a successful answer is `406 NotAcceptable`,
//!   but an error keeps its own status code and is written in JSON, as Kubernetes does so that
//!   a negotiation failure never hides the real error.
//!
//! Watch streams cannot be YAML (Kubernetes has no YAML stream framing either): a watch that
//! accepts only YAML is `406`.

use orchestra_api::Status;

use crate::protobuf;

/// A response body's encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encoding {
    /// `application/json`.
    #[default]
    Json,
    /// `application/yaml`.
    Yaml,
    /// `application/vnd.kubernetes.protobuf`.
    Protobuf,
}

impl Encoding {
    /// The `Content-Type` of a body in this encoding.
    pub fn media_type(self) -> &'static str {
        match self {
            Self::Json => "application/json",
            Self::Yaml => "application/yaml",
            Self::Protobuf => protobuf::MEDIA_TYPE,
        }
    }
}

/// What the response answers with, which decides the media types it can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// One object or a list: any encoding, tables too.
    Object,
    /// A watch stream: JSON or protobuf, tables too.
    Stream,
    /// Anything else (discovery documents, `Status` errors): any encoding, no tables.
    Plain,
}

/// The outcome of negotiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Negotiated {
    /// The encoding.
    pub encoding: Encoding,
    /// The client asked for a `meta.k8s.io` `Table`.
    pub as_table: bool,
}

/// One media range of an `Accept` header.
struct Range<'a> {
    media: &'a str,
    quality: f32,
    as_table: bool,
    /// Asks for a transformation this server does not make (`as=PartialObjectMetadata`).
    unsupported_transform: bool,
}

fn ranges(accept: &str) -> Vec<Range<'_>> {
    let mut ranges: Vec<Range<'_>> = accept
        .split(',')
        .filter_map(|clause| {
            let mut parts = clause.split(';').map(str::trim);
            let media = parts.next().filter(|m| !m.is_empty())?;
            let mut range = Range {
                media,
                quality: 1.0,
                as_table: false,
                unsupported_transform: false,
            };
            let (mut as_kind, mut group, mut version) = (None, None, None);
            for parameter in parts {
                let Some((name, value)) = parameter.split_once('=') else {
                    continue;
                };
                let value = value.trim().trim_matches('"');
                match name.trim() {
                    "q" => range.quality = value.parse().unwrap_or(0.0),
                    "as" => as_kind = Some(value),
                    "g" => group = Some(value),
                    "v" => version = Some(value),
                    _ => {}
                }
            }
            match as_kind {
                None => {}
                Some("Table")
                    if group == Some("meta.k8s.io")
                        && matches!(version, Some("v1" | "v1beta1")) =>
                {
                    range.as_table = true;
                }
                Some(_) => range.unsupported_transform = true,
            }
            Some(range)
        })
        .collect();
    // Stable: equal qualities keep the order the client wrote.
    ranges.sort_by(|a, b| b.quality.total_cmp(&a.quality));
    ranges
}

/// The encoding of a media range, if this server writes it.
fn encoding_of(media: &str) -> Option<Encoding> {
    match media.to_ascii_lowercase().as_str() {
        "application/json" | "application/*" | "*/*" => Some(Encoding::Json),
        "application/yaml" => Some(Encoding::Yaml),
        protobuf::MEDIA_TYPE => Some(Encoding::Protobuf),
        _ => None,
    }
}

/// Chooses the encoding for `endpoint` from an `Accept` header; `None` when nothing in it
/// can be written. No header (or an empty one) is JSON.
pub fn negotiate(accept: Option<&str>, endpoint: Endpoint) -> Option<Negotiated> {
    let accept = accept.map(str::trim).filter(|a| !a.is_empty());
    let Some(accept) = accept else {
        return Some(Negotiated::default());
    };
    let candidates: Vec<Negotiated> = ranges(accept)
        .into_iter()
        .filter(|range| range.quality > 0.0 && !range.unsupported_transform)
        .filter_map(|range| {
            let encoding = encoding_of(range.media)?;
            let allowed = match endpoint {
                Endpoint::Object => !range.as_table || encoding != Encoding::Protobuf,
                Endpoint::Stream => {
                    encoding != Encoding::Yaml
                        && (!range.as_table || encoding != Encoding::Protobuf)
                }
                Endpoint::Plain => !range.as_table,
            };
            allowed.then_some(Negotiated {
                encoding,
                as_table: range.as_table,
            })
        })
        .collect();
    candidates
        .iter()
        .find(|n| n.encoding != Encoding::Protobuf)
        .or_else(|| candidates.first())
        .copied()
}

/// Kubernetes' `406` for an `Accept` header that names nothing this endpoint can write.
pub fn not_acceptable(endpoint: Endpoint) -> Status {
    let supported = match endpoint {
        Endpoint::Object | Endpoint::Plain => {
            "application/json, application/yaml, application/vnd.kubernetes.protobuf"
        }
        Endpoint::Stream => "application/json, application/vnd.kubernetes.protobuf",
    };
    Status::not_acceptable(format!(
        "only the following media types are accepted: {supported}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chosen(accept: &str, endpoint: Endpoint) -> Option<(Encoding, bool)> {
        negotiate(Some(accept), endpoint).map(|n| (n.encoding, n.as_table))
    }

    #[test]
    fn the_first_writable_range_wins() {
        use Encoding::*;
        assert_eq!(
            negotiate(None, Endpoint::Object),
            Some(Negotiated::default())
        );
        assert_eq!(
            chosen("application/yaml", Endpoint::Object),
            Some((Yaml, false))
        );
        assert_eq!(
            chosen(
                "text/html, application/yaml, application/json",
                Endpoint::Object
            ),
            Some((Yaml, false))
        );
        assert_eq!(
            chosen("application/yaml;q=0.5, application/json", Endpoint::Object),
            Some((Json, false))
        );
        assert_eq!(chosen("*/*", Endpoint::Plain), Some((Json, false)));
        assert_eq!(chosen("text/html", Endpoint::Object), None);
        assert_eq!(chosen("application/yaml;q=0", Endpoint::Object), None);
    }

    #[test]
    fn protobuf_only_when_nothing_else_is_accepted() {
        use Encoding::*;
        let pb = "application/vnd.kubernetes.protobuf";
        assert_eq!(chosen(pb, Endpoint::Object), Some((Protobuf, false)));
        assert_eq!(
            chosen(&format!("{pb}, */*"), Endpoint::Object),
            Some((Json, false))
        );
        assert_eq!(
            chosen(&format!("{pb}, application/yaml"), Endpoint::Plain),
            Some((Yaml, false))
        );
    }

    #[test]
    fn tables_are_json_or_yaml_and_only_for_objects_and_streams() {
        use Encoding::*;
        let kubectl = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        assert_eq!(chosen(kubectl, Endpoint::Object), Some((Json, true)));
        assert_eq!(chosen(kubectl, Endpoint::Stream), Some((Json, true)));
        assert_eq!(chosen(kubectl, Endpoint::Plain), Some((Json, false)));
        let yaml_table = "application/yaml;as=Table;v=v1;g=meta.k8s.io";
        assert_eq!(chosen(yaml_table, Endpoint::Object), Some((Yaml, true)));
        assert_eq!(chosen(yaml_table, Endpoint::Plain), None);
        let pb_table = "application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io";
        assert_eq!(chosen(pb_table, Endpoint::Object), None);
        assert_eq!(
            chosen(
                "application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io",
                Endpoint::Object
            ),
            None
        );
    }

    #[test]
    fn watch_streams_are_never_yaml() {
        assert_eq!(chosen("application/yaml", Endpoint::Stream), None);
        assert_eq!(
            chosen("application/yaml, application/json", Endpoint::Stream),
            Some((Encoding::Json, false))
        );
        assert_eq!(not_acceptable(Endpoint::Stream).code, 406);
    }
}
