//! A table's checksum, computed the same way in Rust from the rows of either database.
//!
//! Each row is reduced to a canonical byte form, column by column in the table list's order: NULL
//! is one byte `0`; a value is `1`, its length (8 bytes, big-endian) and its text: text as is,
//! integers in decimal, booleans as `true`/`false`, times as microseconds since the Unix epoch (both
//! databases keep exactly microseconds). The row's SHA-256 is added, as a 256-bit number, to the
//! table's sum; the checksum is the SHA-256 of that sum and the row count.
//!
//! A sum rather than one hash over the rows in key order: the order of text keys is the database's
//! collation, byte order on SQLite and often a linguistic one on PostgreSQL, so "key order" is not
//! one order on both sides, and forcing byte order on PostgreSQL (`COLLATE "C"`) would sort each
//! page of every table instead of walking its primary key index. Keys are unique, so the rows are a
//! set, and a sum of their hashes identifies the set as well.

use sha2::{Digest, Sha256};

use crate::db::Arg;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Checksum {
    /// The sum of the row hashes, modulo 2^256, as four big-endian limbs.
    sum: [u64; 4],
    rows: u64,
}

impl Checksum {
    pub(crate) fn add_row(&mut self, row: &[Arg]) {
        let mut h = Sha256::new();
        for value in row {
            canonical(value, &mut h);
        }
        let digest = h.finalize();
        let mut carry = false;
        for (i, limb) in self.sum.iter_mut().enumerate().rev() {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(&digest[i * 8..i * 8 + 8]);
            let (s, c1) = limb.overflowing_add(u64::from_be_bytes(bytes));
            let (s, c2) = s.overflowing_add(u64::from(carry));
            *limb = s;
            carry = c1 || c2;
        }
        self.rows += 1;
    }

    pub(crate) fn rows(&self) -> u64 {
        self.rows
    }

    /// The checksum in hexadecimal (64 digits).
    pub(crate) fn hex(&self) -> String {
        let mut h = Sha256::new();
        for limb in self.sum {
            h.update(limb.to_be_bytes());
        }
        h.update(self.rows.to_be_bytes());
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }
}

fn canonical(value: &Arg, h: &mut Sha256) {
    match value {
        Arg::Text(None) | Arg::Int(None) | Arg::Time(None) => h.update([0u8]),
        Arg::Text(Some(s)) => present(h, s.as_bytes()),
        Arg::Int(Some(i)) => present(h, i.to_string().as_bytes()),
        Arg::Bool(b) => present(h, if *b { b"true" } else { b"false" }),
        Arg::Time(Some(t)) => present(h, (t.0.unix_timestamp_nanos() / 1_000).to_string().as_bytes()),
    }
}

fn present(h: &mut Sha256, bytes: &[u8]) {
    h.update([1u8]);
    h.update(u64::try_from(bytes.len()).unwrap_or(u64::MAX).to_be_bytes());
    h.update(bytes);
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use crate::Ts;

    fn of(rows: &[Vec<Arg>]) -> String {
        let mut c = Checksum::default();
        for r in rows {
            c.add_row(r);
        }
        c.hex()
    }

    #[test]
    fn the_checksum_of_a_table_does_not_depend_on_the_order_its_rows_come_in() {
        let a = vec![Arg::from("a"), Arg::Int(Some(1))];
        let b = vec![Arg::from("b"), Arg::Int(Some(2))];
        let c = vec![Arg::from("c"), Arg::Int(None)];
        assert_eq!(of(&[a.clone(), b.clone(), c.clone()]), of(&[c.clone(), a.clone(), b.clone()]));
        assert_ne!(of(&[a.clone(), b.clone()]), of(&[a, b, c]), "a row more is another checksum");
    }

    #[test]
    fn the_checksum_tells_apart_values_that_print_alike() {
        let row = |v: Arg| of(&[vec![Arg::from("k"), v]]);
        assert_ne!(row(Arg::Text(None)), row(Arg::from("")), "NULL is not the empty text");
        assert_ne!(row(Arg::Int(Some(0))), row(Arg::Int(None)));
        assert_ne!(row(Arg::Bool(true)), row(Arg::Bool(false)));
        // Column boundaries count: ("ab", "c") is not ("a", "bc").
        assert_ne!(of(&[vec![Arg::from("ab"), Arg::from("c")]]), of(&[vec![Arg::from("a"), Arg::from("bc")]]));
        let t = Ts::from(datetime!(2026-01-15 12:00:00.123456 UTC));
        let later = Ts::from(datetime!(2026-01-15 12:00:00.123457 UTC));
        assert_ne!(row(Arg::Time(Some(t))), row(Arg::Time(Some(later))), "a microsecond apart");
    }
}
