//! A compiled Avro binary codec for hubsync's own schemas: ingest's hot path decodes every change
//! event and encodes every canonical record, and fastavro spends ~17 and ~15 µs a record on them
//! (mostly its per-value dispatch on union-typed map entries); this does the same in ~2.4 and ~1.0
//! (docs/performance.md). hubsync falls back to fastavro where this does not apply.
//!
//! Scope, on purpose narrow (hubsync.avro.native checks it): schemas without logical types (the
//! caller strips them: timestamps are Unix ms ints, as in hubsync's "plain" decoding), whose unions
//! have at most one non-null branch. Every other schema is refused at construction (ValueError).
//! Bytes are identical to fastavro's (tests/avro/test_native.py holds every schema to it).

use std::collections::HashMap;
use std::sync::Arc;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};

enum Schema {
    Null,
    Boolean,
    Int,
    Long,
    Float,
    Double,
    Bytes,
    Str,
    Enum(Vec<Py<PyString>>, HashMap<String, usize>),
    Array(Arc<Schema>),
    Map(Arc<Schema>),
    Union(Vec<Arc<Schema>>),
    Record(Vec<Field>),
}

struct Field {
    name: Py<PyString>,
    schema: Arc<Schema>,
    default: Option<serde_json::Value>,
}

fn parse(
    py: Python<'_>,
    v: &serde_json::Value,
    named: &mut HashMap<String, Arc<Schema>>,
) -> PyResult<Arc<Schema>> {
    use serde_json::Value;
    match v {
        Value::String(s) => prim(s)
            .map(Arc::new)
            .or_else(|| named.get(s).cloned())
            .ok_or_else(|| PyValueError::new_err(format!("unknown type {s}"))),
        Value::Array(items) => {
            let branches: Vec<Arc<Schema>> = items
                .iter()
                .map(|i| parse(py, i, named))
                .collect::<PyResult<_>>()?;
            let non_null = branches
                .iter()
                .filter(|b| !matches!(***b, Schema::Null))
                .count();
            if non_null > 1 || branches.len() - non_null > 1 {
                return Err(PyValueError::new_err(
                    "unions of more than null and one type are not supported",
                ));
            }
            Ok(Arc::new(Schema::Union(branches)))
        }
        Value::Object(o) => {
            let t = o.get("type").and_then(|t| t.as_str()).unwrap_or("");
            let out = match t {
                "record" => {
                    let mut fields = Vec::new();
                    let list = o
                        .get("fields")
                        .and_then(|f| f.as_array())
                        .ok_or_else(|| bad("a record without fields"))?;
                    for f in list {
                        let name = f
                            .get("name")
                            .and_then(|n| n.as_str())
                            .ok_or_else(|| bad("a field without a name"))?;
                        let ty = f.get("type").ok_or_else(|| bad("a field without a type"))?;
                        fields.push(Field {
                            name: PyString::intern(py, name).unbind(),
                            schema: parse(py, ty, named)?,
                            default: f.get("default").cloned(),
                        });
                    }
                    Schema::Record(fields)
                }
                "enum" => {
                    let syms: Vec<String> = o
                        .get("symbols")
                        .and_then(|s| s.as_array())
                        .ok_or_else(|| bad("an enum without symbols"))?
                        .iter()
                        .map(|s| {
                            s.as_str()
                                .map(str::to_string)
                                .ok_or_else(|| bad("a symbol that is not a string"))
                        })
                        .collect::<PyResult<_>>()?;
                    let idx = syms
                        .iter()
                        .enumerate()
                        .map(|(i, s)| (s.clone(), i))
                        .collect();
                    Schema::Enum(
                        syms.iter()
                            .map(|s| PyString::intern(py, s).unbind())
                            .collect(),
                        idx,
                    )
                }
                "array" => Schema::Array(parse(
                    py,
                    o.get("items")
                        .ok_or_else(|| bad("an array without items"))?,
                    named,
                )?),
                "map" => Schema::Map(parse(
                    py,
                    o.get("values").ok_or_else(|| bad("a map without values"))?,
                    named,
                )?),
                other => {
                    return prim(other)
                        .map(Arc::new)
                        .ok_or_else(|| PyValueError::new_err(format!("unsupported type {other}")))
                }
            };
            let out = Arc::new(out);
            if let Some(name) = o.get("name").and_then(|n| n.as_str()) {
                named.insert(name.to_string(), out.clone());
            }
            Ok(out)
        }
        _ => Err(PyValueError::new_err("bad schema")),
    }
}

/// the most items a block of items that take no bytes (nulls) may claim
const MAX_EMPTY_ITEMS: usize = 1 << 20;

/// The fewest bytes a value of `s` takes.
fn min_size(s: &Schema) -> usize {
    match s {
        Schema::Null => 0,
        Schema::Float => 4,
        Schema::Double => 8,
        Schema::Record(fields) => fields.iter().map(|f| min_size(&f.schema)).sum(),
        _ => 1,
    }
}

fn bad(message: &str) -> PyErr {
    PyValueError::new_err(message.to_string())
}

fn prim(s: &str) -> Option<Schema> {
    Some(match s {
        "null" => Schema::Null,
        "boolean" => Schema::Boolean,
        "int" => Schema::Int,
        "long" => Schema::Long,
        "float" => Schema::Float,
        "double" => Schema::Double,
        "bytes" => Schema::Bytes,
        "string" => Schema::Str,
        _ => return None,
    })
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn long(&mut self) -> PyResult<i64> {
        let mut n: u64 = 0;
        let mut shift = 0;
        loop {
            let b = *self
                .buf
                .get(self.pos)
                .ok_or_else(|| PyValueError::new_err("truncated"))?;
            self.pos += 1;
            n |= ((b & 0x7f) as u64) << shift;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
            if shift > 63 {
                return Err(PyValueError::new_err("varint too long"));
            }
        }
        Ok(((n >> 1) as i64) ^ -((n & 1) as i64))
    }
    fn take(&mut self, n: usize) -> PyResult<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.buf.len())
            .ok_or_else(|| PyValueError::new_err("truncated"))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn read(&mut self, py: Python<'_>, s: &Schema) -> PyResult<PyObject> {
        Ok(match s {
            Schema::Null => py.None(),
            Schema::Boolean => PyBool::new(py, self.take(1)?[0] != 0)
                .to_owned()
                .into_any()
                .unbind(),
            Schema::Int | Schema::Long => self.long()?.into_pyobject(py)?.into_any().unbind(),
            Schema::Float => f32::from_le_bytes(self.take(4)?.try_into().unwrap())
                .into_pyobject(py)?
                .into_any()
                .unbind(),
            Schema::Double => f64::from_le_bytes(self.take(8)?.try_into().unwrap())
                .into_pyobject(py)?
                .into_any()
                .unbind(),
            Schema::Bytes => {
                let n = self.len()?;
                PyBytes::new(py, self.take(n)?).into_any().unbind()
            }
            Schema::Str => {
                let n = self.len()?;
                let s = std::str::from_utf8(self.take(n)?)
                    .map_err(|e| PyValueError::new_err(e.to_string()))?;
                PyString::new(py, s).into_any().unbind()
            }
            Schema::Enum(syms, _) => {
                let i = self.long()?;
                syms.get(i as usize)
                    .ok_or_else(|| PyValueError::new_err("enum index"))?
                    .clone_ref(py)
                    .into_any()
            }
            Schema::Union(branches) => {
                let i = self.long()?;
                let b = branches
                    .get(i as usize)
                    .ok_or_else(|| PyValueError::new_err("union index"))?;
                self.read(py, b)?
            }
            Schema::Array(items) => {
                let list = PyList::empty(py);
                loop {
                    let n = self.block(min_size(items))?;
                    if n == 0 {
                        break;
                    }
                    for _ in 0..n {
                        list.append(self.read(py, items)?)?;
                    }
                }
                list.into_any().unbind()
            }
            Schema::Map(values) => {
                let dict = PyDict::new(py);
                loop {
                    let n = self.block(1 + min_size(values))?;
                    if n == 0 {
                        break;
                    }
                    for _ in 0..n {
                        let k = self.len()?;
                        let key = std::str::from_utf8(self.take(k)?)
                            .map_err(|e| PyValueError::new_err(e.to_string()))?;
                        let key = PyString::new(py, key);
                        dict.set_item(key, self.read(py, values)?)?;
                    }
                }
                dict.into_any().unbind()
            }
            Schema::Record(fields) => {
                let dict = PyDict::new(py);
                for f in fields {
                    dict.set_item(f.name.bind(py), self.read(py, &f.schema)?)?;
                }
                dict.into_any().unbind()
            }
        })
    }
    /// The item count of the next array or map block (0: the end), checked against the bytes
    /// left, so a corrupt count fails at once instead of looping (items of `item_min` bytes).
    fn block(&mut self, item_min: usize) -> PyResult<usize> {
        let mut n = self.long()?;
        if n < 0 {
            n = n.checked_neg().ok_or_else(|| bad("bad block count"))?;
            self.long()?; // the block's size in bytes
        }
        let n = usize::try_from(n).map_err(|_| bad("bad block count"))?;
        let left = self.buf.len() - self.pos;
        let most = if item_min == 0 {
            MAX_EMPTY_ITEMS
        } else {
            left / item_min
        };
        if n > most {
            return Err(bad("block count exceeds the bytes left"));
        }
        Ok(n)
    }

    fn len(&mut self) -> PyResult<usize> {
        let n = self.long()?;
        usize::try_from(n).map_err(|_| PyValueError::new_err("negative length"))
    }
}

fn write_long(out: &mut Vec<u8>, v: i64) {
    let mut n = ((v << 1) ^ (v >> 63)) as u64;
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// An int that is not a bool (fastavro refuses a bool where a union wants a number).
fn int_of(obj: &Bound<'_, PyAny>) -> PyResult<i64> {
    if obj.is_instance_of::<PyBool>() || !obj.is_instance_of::<PyInt>() {
        return Err(PyTypeError::new_err("expected an int"));
    }
    obj.extract::<i64>()
}

/// An int (not a bool) or a float.
fn number_of<'a, 'py>(obj: &'a Bound<'py, PyAny>) -> PyResult<&'a Bound<'py, PyAny>> {
    if obj.is_instance_of::<PyBool>()
        || !(obj.is_instance_of::<PyInt>() || obj.is_instance_of::<PyFloat>())
    {
        return Err(PyTypeError::new_err("expected a number"));
    }
    Ok(obj)
}

fn nullable(s: &Schema) -> bool {
    match s {
        Schema::Null => true,
        Schema::Union(branches) => branches.iter().any(|b| matches!(**b, Schema::Null)),
        _ => false,
    }
}

fn write(py: Python<'_>, obj: &Bound<'_, PyAny>, s: &Schema, out: &mut Vec<u8>) -> PyResult<()> {
    match s {
        Schema::Null => {
            if !obj.is_none() {
                return Err(PyTypeError::new_err("expected None"));
            }
        }
        Schema::Boolean => out.push(obj.downcast::<PyBool>()?.is_true() as u8),
        Schema::Int => {
            let v = int_of(obj)?;
            if i32::try_from(v).is_err() {
                return Err(PyValueError::new_err("out of the int range"));
            }
            write_long(out, v)
        }
        Schema::Long => write_long(out, int_of(obj)?),
        Schema::Float => out.extend_from_slice(&number_of(obj)?.extract::<f32>()?.to_le_bytes()),
        Schema::Double => out.extend_from_slice(&number_of(obj)?.extract::<f64>()?.to_le_bytes()),
        Schema::Bytes => {
            let b = obj.downcast::<PyBytes>()?.as_bytes();
            write_long(out, b.len() as i64);
            out.extend_from_slice(b);
        }
        Schema::Str => {
            let st = obj.downcast::<PyString>()?.to_str()?;
            write_long(out, st.len() as i64);
            out.extend_from_slice(st.as_bytes());
        }
        Schema::Enum(_, idx) => {
            let st = obj.downcast::<PyString>()?.to_str()?;
            let i = idx
                .get(st)
                .ok_or_else(|| PyValueError::new_err(format!("{st} is not a symbol")))?;
            write_long(out, *i as i64);
        }
        Schema::Union(branches) => {
            // null and at most one other type (checked at construction): None takes the null
            // branch, anything else the other one, written strictly; what does not fit is refused
            let null = obj.is_none();
            let i = branches
                .iter()
                .position(|b| matches!(**b, Schema::Null) == null)
                .ok_or_else(|| PyValueError::new_err("no union branch for the value"))?;
            write_long(out, i as i64);
            write(py, obj, &branches[i], out)?;
        }
        Schema::Array(items) => {
            let seq: Vec<Bound<'_, PyAny>> = if let Ok(list) = obj.downcast::<PyList>() {
                list.iter().collect()
            } else {
                obj.downcast::<PyTuple>()?.iter().collect()
            };
            if !seq.is_empty() {
                write_long(out, seq.len() as i64);
                for item in &seq {
                    write(py, item, items, out)?;
                }
            }
            out.push(0);
        }
        Schema::Map(values) => {
            let d = obj.downcast::<PyDict>()?;
            if !d.is_empty() {
                write_long(out, d.len() as i64);
                for (k, v) in d.iter() {
                    let ks = k.downcast::<PyString>()?.to_str()?;
                    write_long(out, ks.len() as i64);
                    out.extend_from_slice(ks.as_bytes());
                    write(py, &v, values, out)?;
                }
            }
            out.push(0);
        }
        Schema::Record(fields) => {
            let d = obj.downcast::<PyDict>()?;
            for f in fields {
                match d.get_item(f.name.bind(py))? {
                    Some(v) => write(py, &v, &f.schema, out)?,
                    None => {
                        // fastavro: the default, else null where the type allows it, else an error
                        let dv = match &f.default {
                            Some(dv) => dv.clone(),
                            None if nullable(&f.schema) => serde_json::Value::Null,
                            None => {
                                return Err(PyValueError::new_err(format!(
                                    "no value and no default for {}",
                                    f.name
                                )))
                            }
                        };
                        let pyv = default_to_py(py, &dv)?;
                        write(py, pyv.bind(py), &f.schema, out)?;
                    }
                }
            }
        }
    }
    Ok(())
}

fn default_to_py(py: Python<'_>, v: &serde_json::Value) -> PyResult<PyObject> {
    use serde_json::Value;
    Ok(match v {
        Value::Null => py.None(),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any().unbind(),
        Value::Number(n) => match n.as_i64() {
            Some(i) => i.into_pyobject(py)?.into_any().unbind(),
            None => n
                .as_f64()
                .unwrap_or(0.0)
                .into_pyobject(py)?
                .into_any()
                .unbind(),
        },
        Value::String(s) => PyString::new(py, s).into_any().unbind(),
        Value::Array(items) => {
            let l = PyList::empty(py);
            for i in items {
                l.append(default_to_py(py, i)?)?;
            }
            l.into_any().unbind()
        }
        Value::Object(o) => {
            let d = PyDict::new(py);
            for (k, i) in o {
                d.set_item(k, default_to_py(py, i)?)?;
            }
            d.into_any().unbind()
        }
    })
}

#[pyclass(frozen)]
struct Codec {
    schema: Arc<Schema>,
}

#[pymethods]
impl Codec {
    #[new]
    fn new(py: Python<'_>, schema_json: &str) -> PyResult<Self> {
        let v: serde_json::Value =
            serde_json::from_str(schema_json).map_err(|e| PyValueError::new_err(e.to_string()))?;
        let mut named = HashMap::new();
        Ok(Codec {
            schema: parse(py, &v, &mut named)?,
        })
    }

    /// Decode the body starting at ``start``; ValueError when it is truncated, malformed or has
    /// bytes left over.
    #[pyo3(signature = (data, start = 0))]
    fn decode(&self, py: Python<'_>, data: &[u8], start: usize) -> PyResult<PyObject> {
        let body = data
            .get(start..)
            .ok_or_else(|| PyValueError::new_err("start is past the end"))?;
        let mut r = Reader { buf: body, pos: 0 };
        let out = r.read(py, &self.schema)?;
        if r.pos != body.len() {
            return Err(PyValueError::new_err(format!(
                "{} trailing bytes",
                body.len() - r.pos
            )));
        }
        Ok(out)
    }

    fn encode<'py>(
        &self,
        py: Python<'py>,
        record: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let mut out = Vec::with_capacity(256);
        write(py, record, &self.schema, &mut out)?;
        Ok(PyBytes::new(py, &out))
    }

    /// The encoding of a record given as its fields' values in the schema's order (a database
    /// row, say): what `encode` writes for the dict of those fields, without making the dict.
    /// ValueError for a schema that is not a record or a tuple of another length.
    fn encode_fields<'py>(
        &self,
        py: Python<'py>,
        values: &Bound<'py, PyTuple>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let Schema::Record(fields) = &*self.schema else {
            return Err(PyValueError::new_err("the schema is not a record"));
        };
        if values.len() != fields.len() {
            return Err(PyValueError::new_err(format!(
                "{} values for {} fields",
                values.len(),
                fields.len()
            )));
        }
        let mut out = Vec::with_capacity(256);
        for (f, v) in fields.iter().zip(values.iter()) {
            write(py, &v, &f.schema, &mut out)?;
        }
        Ok(PyBytes::new(py, &out))
    }
}

#[pymodule]
fn hubsync_avro_native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Codec>()?;
    Ok(())
}
