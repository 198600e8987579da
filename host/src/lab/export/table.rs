//! One Parquet file written row by row: typed columns (UTC millisecond times, exact decimals,
//! text, integers, floats, flags, factor maps), flushed as zstd-compressed row groups.

use super::super::{LabError, Result};
use arrow_array::builder::{
    BooleanBuilder, Decimal128Builder, Float32Builder, Float64Builder, Int64Builder, MapBuilder,
    StringBuilder, TimestampMillisecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use rust_decimal::Decimal;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Decimal columns: 38 digits, 12 after the point (prices, sizes and pUSD with room to spare).
pub(crate) const PRECISION: u8 = 38;
pub(crate) const SCALE: i8 = 12;
/// Rows per row group.
const BATCH_ROWS: usize = 65_536;

/// A column's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Unix milliseconds, as a UTC timestamp.
    Time,
    Text,
    /// An exact decimal, as `decimal(38, 12)`.
    Money,
    Int,
    Float,
    Flag,
    /// Factor name → value (`map<string, float>`).
    Factors,
}

/// A cell; `Null` fits any column.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum V {
    Time(i64),
    Text(String),
    Money(Decimal),
    Int(i64),
    Float(f64),
    Flag(bool),
    Factors(Vec<(String, f32)>),
    Null,
}

impl V {
    pub(crate) fn text(s: impl Into<String>) -> Self {
        Self::Text(s.into())
    }

    pub(crate) fn opt<T>(v: Option<T>, f: impl FnOnce(T) -> Self) -> Self {
        v.map_or(Self::Null, f)
    }

    pub(crate) fn int(v: impl TryInto<i64>) -> Self {
        v.try_into().map_or(Self::Null, Self::Int)
    }
}

enum Builder {
    Time(TimestampMillisecondBuilder),
    Text(StringBuilder),
    Money(Decimal128Builder),
    Int(Int64Builder),
    Float(Float64Builder),
    Flag(BooleanBuilder),
    Factors(Box<MapBuilder<StringBuilder, Float32Builder>>),
}

/// Why a cell was not taken.
enum Refused {
    TooLarge(Decimal),
    WrongType,
}

/// Whether a column of `kind` takes `cell`.
fn check(kind: Kind, cell: &V) -> std::result::Result<(), Refused> {
    match (kind, cell) {
        (_, V::Null)
        | (Kind::Time, V::Time(_))
        | (Kind::Text, V::Text(_))
        | (Kind::Int, V::Int(_))
        | (Kind::Float, V::Float(_))
        | (Kind::Flag, V::Flag(_))
        | (Kind::Factors, V::Factors(_)) => Ok(()),
        (Kind::Money, V::Money(v)) => money(*v).map(|_| ()).ok_or(Refused::TooLarge(*v)),
        _ => Err(Refused::WrongType),
    }
}

impl Builder {
    /// Appends a cell [`check`] accepted for this column.
    fn append(&mut self, cell: V) {
        match (self, cell) {
            (Self::Time(b), V::Time(v)) => b.append_value(v),
            (Self::Text(b), V::Text(v)) => b.append_value(v),
            (Self::Money(b), V::Money(v)) => b.append_option(money(v)),
            (Self::Int(b), V::Int(v)) => b.append_value(v),
            (Self::Float(b), V::Float(v)) => b.append_value(v),
            (Self::Flag(b), V::Flag(v)) => b.append_value(v),
            (Self::Factors(b), V::Factors(v)) => {
                for (k, x) in v {
                    b.keys().append_value(k);
                    b.values().append_value(x);
                }
                // Keys and values were appended in pairs just above: the map entry is whole.
                let _ = b.append(true);
            }
            (Self::Factors(b), _) => {
                let _ = b.append(false);
            }
            (Self::Time(b), _) => b.append_null(),
            (Self::Text(b), _) => b.append_null(),
            (Self::Money(b), _) => b.append_null(),
            (Self::Int(b), _) => b.append_null(),
            (Self::Float(b), _) => b.append_null(),
            (Self::Flag(b), _) => b.append_null(),
        }
    }

    fn new(kind: Kind) -> Self {
        match kind {
            Kind::Time => Self::Time(TimestampMillisecondBuilder::new().with_timezone("UTC")),
            Kind::Text => Self::Text(StringBuilder::new()),
            Kind::Money => Self::Money(
                Decimal128Builder::new()
                    .with_precision_and_scale(PRECISION, SCALE)
                    .unwrap_or_else(|_| Decimal128Builder::new()),
            ),
            Kind::Int => Self::Int(Int64Builder::new()),
            Kind::Float => Self::Float(Float64Builder::new()),
            Kind::Flag => Self::Flag(BooleanBuilder::new()),
            Kind::Factors => {
                Self::Factors(Box::new(MapBuilder::new(None, StringBuilder::new(), Float32Builder::new())))
            }
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Self::Time(b) => Arc::new(b.finish()),
            Self::Text(b) => Arc::new(b.finish()),
            Self::Money(b) => Arc::new(b.finish()),
            Self::Int(b) => Arc::new(b.finish()),
            Self::Float(b) => Arc::new(b.finish()),
            Self::Flag(b) => Arc::new(b.finish()),
            Self::Factors(b) => Arc::new(b.finish()),
        }
    }
}

fn data_type(kind: Kind) -> DataType {
    match kind {
        Kind::Time => DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
        Kind::Text => DataType::Utf8,
        Kind::Money => DataType::Decimal128(PRECISION, SCALE),
        Kind::Int => DataType::Int64,
        Kind::Float => DataType::Float64,
        Kind::Flag => DataType::Boolean,
        Kind::Factors => {
            // What MapBuilder makes: entries of (key, value), values nullable.
            let entries = Field::new(
                "entries",
                DataType::Struct(
                    vec![
                        Field::new("key", DataType::Utf8, false),
                        Field::new("value", DataType::Float32, true),
                    ]
                    .into(),
                ),
                false,
            );
            DataType::Map(Arc::new(entries), false)
        }
    }
}

/// A decimal as the column's 128-bit integer at [`SCALE`], rounded half to even beyond it.
fn money(d: Decimal) -> Option<i128> {
    let scale = u32::from(SCALE.unsigned_abs());
    let mut d = d;
    d.rescale(scale);
    (d.scale() == scale).then(|| d.mantissa())
}

/// A Parquet file being written.
pub(crate) struct Table {
    path: PathBuf,
    kinds: Vec<Kind>,
    builders: Vec<Builder>,
    schema: Arc<Schema>,
    writer: ArrowWriter<File>,
    pending: usize,
    rows: u64,
}

impl Table {
    /// Creates `dir/<name>.parquet` with these columns (all nullable).
    ///
    /// # Errors
    /// The file cannot be created.
    pub(crate) fn create<S: AsRef<str>>(dir: &Path, name: &str, columns: &[(S, Kind)]) -> Result<Self> {
        let path = dir.join(format!("{name}.parquet"));
        let io = |e: &dyn std::fmt::Display| LabError::Io { path: path.clone(), reason: e.to_string() };
        let schema = Arc::new(Schema::new(
            columns.iter().map(|(n, k)| Field::new(n.as_ref(), data_type(*k), true)).collect::<Vec<_>>(),
        ));
        let file = File::create(&path).map_err(|e| io(&e))?;
        let level = ZstdLevel::try_new(3).map_err(|e| io(&e))?;
        let props = WriterProperties::builder().set_compression(Compression::ZSTD(level)).build();
        let writer = ArrowWriter::try_new(file, Arc::clone(&schema), Some(props)).map_err(|e| io(&e))?;
        Ok(Self {
            kinds: columns.iter().map(|c| c.1).collect(),
            builders: columns.iter().map(|c| Builder::new(c.1)).collect(),
            schema,
            writer,
            path,
            pending: 0,
            rows: 0,
        })
    }

    /// Appends a row: one cell per column, in order.
    ///
    /// # Errors
    /// A row of the wrong width or a cell of the wrong type (a bug in the exporter), a decimal
    /// too large for the column, or a failed write.
    pub(crate) fn row(&mut self, cells: Vec<V>) -> Result<()> {
        if cells.len() != self.builders.len() {
            return Err(self.bad(format!(
                "a row of {} cells for {} columns",
                cells.len(),
                self.builders.len()
            )));
        }
        // Every cell is checked before any is appended, so a refused row leaves no trace.
        for (i, (cell, kind)) in cells.iter().zip(&self.kinds).enumerate() {
            if let Err(why) = check(*kind, cell) {
                let name = self.schema.field(i).name().clone();
                return Err(self.bad(match why {
                    Refused::TooLarge(v) => format!("{v} is too large for column {name}"),
                    Refused::WrongType => format!("column {name} is {kind:?}"),
                }));
            }
        }
        for (builder, cell) in self.builders.iter_mut().zip(cells) {
            builder.append(cell);
        }
        self.pending += 1;
        self.rows += 1;
        if self.pending >= BATCH_ROWS {
            self.flush()?;
        }
        Ok(())
    }

    fn bad(&self, reason: String) -> LabError {
        LabError::Invalid(format!("{}: {reason}", self.path.display()))
    }

    fn flush(&mut self) -> Result<()> {
        if self.pending == 0 {
            return Ok(());
        }
        let arrays: Vec<ArrayRef> = self.builders.iter_mut().map(Builder::finish).collect();
        let batch =
            RecordBatch::try_new(Arc::clone(&self.schema), arrays).map_err(|e| self.bad(e.to_string()))?;
        self.writer
            .write(&batch)
            .map_err(|e| LabError::Io { path: self.path.clone(), reason: e.to_string() })?;
        self.pending = 0;
        Ok(())
    }

    /// Writes what is left and the file's footer; the rows written.
    ///
    /// # Errors
    /// A failed write.
    pub(crate) fn close(mut self) -> Result<(PathBuf, u64)> {
        self.flush()?;
        self.writer.close().map_err(|e| LabError::Io { path: self.path.clone(), reason: e.to_string() })?;
        Ok((self.path, self.rows))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn decimals_keep_twelve_places_and_refuse_what_does_not_fit() {
        assert_eq!(money(dec!(0.55)), Some(550_000_000_000));
        assert_eq!(money(dec!(-1.000000000000499)), Some(-1_000_000_000_000));
        assert_eq!(money(Decimal::MAX), None);
    }

    #[test]
    fn a_bad_row_is_refused_with_the_column_and_the_file_is_still_written() {
        let dir = tempfile::tempdir().unwrap();
        let mut t = Table::create(dir.path(), "t", &[("price", Kind::Money), ("n", Kind::Int)]).unwrap();
        let err = |r: Result<()>| r.unwrap_err().to_string();
        assert!(err(t.row(vec![V::Null])).contains("a row of 1 cells for 2 columns"));
        assert!(err(t.row(vec![V::Int(1), V::Int(1)])).contains("column price is Money"));
        assert!(err(t.row(vec![V::Money(Decimal::MAX), V::Int(1)])).contains("too large for column price"));
        // Refused at its last cell: nothing of it is kept.
        assert!(err(t.row(vec![V::Money(dec!(1)), V::text("x")])).contains("column n is Int"));
        t.row(vec![V::Money(dec!(0.5)), V::Null]).unwrap();
        let (path, rows) = t.close().unwrap();
        assert_eq!((rows, path.file_name().unwrap().to_str().unwrap()), (1, "t.parquet"));
    }
}
