//! The shape of a Kubernetes protobuf message, as the codec needs it: for every field its
//! number, its JSON name, its type and how it repeats. The table itself, one [`Message`] per
//! Kubernetes message a served kind reaches, is generated into `messages.rs`.

/// One protobuf message.
#[derive(Debug)]
pub struct Message {
    /// The fully qualified protobuf name (`k8s.io.api.apps.v1.Deployment`), for errors.
    pub name: &'static str,
    /// How the message appears in JSON.
    pub form: Form,
    /// Its fields, by ascending number.
    pub fields: &'static [Field],
}

impl Message {
    /// The field with the given number.
    pub fn field(&self, number: u32) -> Option<&'static Field> {
        self.fields
            .binary_search_by_key(&number, |f| f.number)
            .ok()
            .map(|i| &self.fields[i])
    }
}

/// How a message appears in JSON. Most are objects of their fields; a few Kubernetes types
/// have a JSON form of their own (a string, a number, raw JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// An object with one member per set field.
    Object,
    /// `meta/v1.Time`: `{seconds, nanos}` as an RFC 3339 string with whole seconds.
    Time,
    /// `meta/v1.MicroTime`: `{seconds, nanos}` as an RFC 3339 string with microseconds.
    MicroTime,
    /// `resource.Quantity`: `{string}` as its string.
    Quantity,
    /// `intstr.IntOrString`: `{type, intVal, strVal}` as a number or a string.
    IntOrString,
    /// `runtime.RawExtension`, `meta/v1.FieldsV1`, `apiextensions/v1.JSON`: `{raw}`, bytes
    /// holding JSON, as that JSON.
    RawJson,
    /// `JSONSchemaPropsOrArray`: `{schema, jSONSchemas}` as a schema or an array of schemas.
    SchemaOrArray,
    /// `JSONSchemaPropsOrBool`: `{allows, schema}` as a schema or a boolean.
    SchemaOrBool,
    /// `JSONSchemaPropsOrStringArray`: `{schema, property}` as a schema or an array of
    /// strings.
    SchemaOrStringArray,
}

/// The type of a field's values (of a map's values, for a map).
#[derive(Debug, Clone, Copy)]
pub enum Type {
    /// `string`.
    String,
    /// `bool`.
    Bool,
    /// `int32`.
    Int32,
    /// `int64`.
    Int64,
    /// `double`.
    Double,
    /// `bytes`: base64 in JSON.
    Bytes,
    /// Another message.
    Message(&'static Message),
}

/// How a field holds its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Label {
    /// At most one value. An empty string is Go's zero value of a plain string field, the same
    /// as absent, and is left out of the JSON; a zero number or `false` is kept, as it is a
    /// value of a Go pointer field (`replicas: 0`, `runAsNonRoot: false`).
    Optional,
    /// At most one value, a Go plain (non-pointer) integer or boolean, where zero or `false`
    /// means unset and is left out of the JSON (`minReadySeconds`, `hostNetwork`).
    Plain,
    /// At most one value, a Go pointer to a string where an empty string means something
    /// (`storageClassName: ""` asks for no storage class).
    KeepsEmpty,
    /// A list.
    Repeated,
    /// `map<string, T>`: an object in JSON.
    Map,
    /// Go's `json:",inline"` embedding: the message's fields are members of the enclosing
    /// JSON object (`Volume.volumeSource`, `Probe.handler`).
    Inline,
}

/// One field of a message.
#[derive(Debug)]
pub struct Field {
    /// The field number.
    pub number: u32,
    /// The JSON member name (unused for inline fields).
    pub json_name: &'static str,
    /// The type of its values.
    pub ty: Type,
    /// How it holds them.
    pub label: Label,
}

impl Field {
    /// A singular field.
    pub const fn optional(number: u32, json_name: &'static str, ty: Type) -> Self {
        Self::new(number, json_name, ty, Label::Optional)
    }

    /// A singular string field where the empty string is a value of its own.
    pub const fn keeps_empty(number: u32, json_name: &'static str, ty: Type) -> Self {
        Self::new(number, json_name, ty, Label::KeepsEmpty)
    }

    /// A singular integer or boolean field whose zero value means unset.
    pub const fn plain(number: u32, json_name: &'static str, ty: Type) -> Self {
        Self::new(number, json_name, ty, Label::Plain)
    }

    /// A list field.
    pub const fn repeated(number: u32, json_name: &'static str, ty: Type) -> Self {
        Self::new(number, json_name, ty, Label::Repeated)
    }

    /// A `map<string, T>` field.
    pub const fn map(number: u32, json_name: &'static str, ty: Type) -> Self {
        Self::new(number, json_name, ty, Label::Map)
    }

    /// An embedded message whose fields are inlined into the enclosing JSON object.
    pub const fn inline(number: u32, json_name: &'static str, ty: Type) -> Self {
        Self::new(number, json_name, ty, Label::Inline)
    }

    const fn new(number: u32, json_name: &'static str, ty: Type, label: Label) -> Self {
        Self {
            number,
            json_name,
            ty,
            label,
        }
    }
}
