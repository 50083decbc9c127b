//! The protobuf wire format: varints, field keys, length-delimited and fixed-width values.
//! Every read is bounds-checked; malformed input is an error, never a panic.

/// How a field's value is laid out on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireType {
    /// A varint (`int32`, `int64`, `bool`).
    Varint,
    /// Eight bytes (`double`).
    Fixed64,
    /// A length and that many bytes (strings, bytes, messages, packed lists).
    LengthDelimited,
    /// Four bytes (`float`).
    Fixed32,
}

impl WireType {
    fn of(bits: u64) -> Result<Self, &'static str> {
        match bits {
            0 => Ok(Self::Varint),
            1 => Ok(Self::Fixed64),
            2 => Ok(Self::LengthDelimited),
            5 => Ok(Self::Fixed32),
            3 | 4 => Err("groups are not used by Kubernetes messages"),
            _ => Err("unknown wire type"),
        }
    }

    fn bits(self) -> u64 {
        match self {
            Self::Varint => 0,
            Self::Fixed64 => 1,
            Self::LengthDelimited => 2,
            Self::Fixed32 => 5,
        }
    }
}

/// Reads values from a protobuf-encoded buffer.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    /// Whether everything has been read.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// A varint.
    pub fn varint(&mut self) -> Result<u64, &'static str> {
        let mut value = 0u64;
        for (i, byte) in self.bytes.iter().take(10).enumerate() {
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                if i == 9 && *byte > 1 {
                    return Err("varint overflows 64 bits");
                }
                self.bytes = &self.bytes[i + 1..];
                return Ok(value);
            }
        }
        Err(if self.bytes.len() < 10 {
            "truncated varint"
        } else {
            "varint longer than 10 bytes"
        })
    }

    /// A field key: the field number and its wire type.
    pub fn key(&mut self) -> Result<(u32, WireType), &'static str> {
        let key = self.varint()?;
        let number = u32::try_from(key >> 3)
            .ok()
            .filter(|n| *n >= 1 && *n < (1 << 29))
            .ok_or("field number out of range")?;
        Ok((number, WireType::of(key & 7)?))
    }

    /// A length-delimited value.
    pub fn length_delimited(&mut self) -> Result<&'a [u8], &'static str> {
        let len = usize::try_from(self.varint()?).map_err(|_| "length out of range")?;
        if len > self.bytes.len() {
            return Err("length-delimited value runs past the end of its message");
        }
        let (value, rest) = self.bytes.split_at(len);
        self.bytes = rest;
        Ok(value)
    }

    /// Eight little-endian bytes.
    pub fn fixed64(&mut self) -> Result<u64, &'static str> {
        let (value, rest) = self
            .bytes
            .split_first_chunk::<8>()
            .ok_or("truncated 64-bit value")?;
        self.bytes = rest;
        Ok(u64::from_le_bytes(*value))
    }

    /// Skips a value of the given wire type.
    pub fn skip(&mut self, wire_type: WireType) -> Result<(), &'static str> {
        match wire_type {
            WireType::Varint => self.varint().map(drop),
            WireType::Fixed64 => self.fixed64().map(drop),
            WireType::LengthDelimited => self.length_delimited().map(drop),
            WireType::Fixed32 => {
                if self.bytes.len() < 4 {
                    return Err("truncated 32-bit value");
                }
                self.bytes = &self.bytes[4..];
                Ok(())
            }
        }
    }
}

/// Appends a varint.
pub fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Appends a field key.
pub fn put_key(out: &mut Vec<u8>, number: u32, wire_type: WireType) {
    put_varint(out, (u64::from(number) << 3) | wire_type.bits());
}

/// Appends a length-delimited field.
pub fn put_bytes(out: &mut Vec<u8>, number: u32, bytes: &[u8]) {
    put_key(out, number, WireType::LengthDelimited);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Appends a varint field.
pub fn put_varint_field(out: &mut Vec<u8>, number: u32, value: u64) {
    put_key(out, number, WireType::Varint);
    put_varint(out, value);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn varints_read_back_what_was_written(value: u64) {
            let mut out = Vec::new();
            put_varint(&mut out, value);
            let mut reader = Reader::new(&out);
            prop_assert_eq!(reader.varint(), Ok(value));
            prop_assert!(reader.is_empty());
        }

        #[test]
        fn arbitrary_bytes_never_panic_the_reader(bytes: Vec<u8>) {
            let mut reader = Reader::new(&bytes);
            while !reader.is_empty() {
                let Ok((_, wire_type)) = reader.key() else { break };
                if reader.skip(wire_type).is_err() {
                    break;
                }
            }
        }
    }

    #[test]
    fn truncated_and_overlong_input_is_an_error() {
        assert_eq!(Reader::new(&[0x80]).varint(), Err("truncated varint"));
        assert_eq!(
            Reader::new(&[0xff; 11]).varint(),
            Err("varint longer than 10 bytes")
        );
        assert!(Reader::new(&[0x0a, 0x05, b'a']).key().is_ok());
        let mut reader = Reader::new(&[0x05, b'a']);
        assert!(reader.length_delimited().is_err());
        assert_eq!(
            Reader::new(&[0x0b]).key(),
            Err("groups are not used by Kubernetes messages")
        );
        assert_eq!(Reader::new(&[0x00]).key(), Err("field number out of range"));
    }
}
