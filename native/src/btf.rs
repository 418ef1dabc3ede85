//! BTF under construction, in libbpf's layout: type records back to back in a `Vec<u32>`, an
//! index of where each type starts, and a deduplicated string table.
//!
//! Keeping the raw layout (rather than an enum per type) makes the 10+ million pre-dedup types
//! of a vmlinux cheap to hold and lets dedup hash and compare records as word slices. Records
//! are in host order; byte order is chosen only when writing.

use hashbrown::HashTable;
use std::sync::OnceLock;
use std::hash::{BuildHasher, Hasher};

pub const KIND_INT: u32 = 1;
pub const KIND_PTR: u32 = 2;
pub const KIND_ARRAY: u32 = 3;
pub const KIND_STRUCT: u32 = 4;
pub const KIND_UNION: u32 = 5;
pub const KIND_ENUM: u32 = 6;
pub const KIND_FWD: u32 = 7;
pub const KIND_TYPEDEF: u32 = 8;
pub const KIND_VOLATILE: u32 = 9;
pub const KIND_CONST: u32 = 10;
pub const KIND_RESTRICT: u32 = 11;
pub const KIND_FUNC: u32 = 12;
pub const KIND_FUNC_PROTO: u32 = 13;
pub const KIND_VAR: u32 = 14;
pub const KIND_DATASEC: u32 = 15;
pub const KIND_FLOAT: u32 = 16;
pub const KIND_DECL_TAG: u32 = 17;
pub const KIND_TYPE_TAG: u32 = 18;
pub const KIND_ENUM64: u32 = 19;

pub const INT_SIGNED: u32 = 1;
pub const INT_CHAR: u32 = 2;
pub const INT_BOOL: u32 = 4;

#[inline]
pub fn info(kind: u32, vlen: u32, kflag: bool) -> u32 {
    (u32::from(kflag) << 31) | (kind << 24) | (vlen & 0xffff)
}
#[inline]
pub fn info_kind(info: u32) -> u32 {
    (info >> 24) & 0x1f
}
#[inline]
pub fn info_vlen(info: u32) -> u32 {
    info & 0xffff
}
#[inline]
pub fn info_kflag(info: u32) -> bool {
    info >> 31 == 1
}

/// Number of words a record occupies after its 3-word header.
#[inline]
pub fn extra_words(info: u32) -> usize {
    let vlen = info_vlen(info) as usize;
    match info_kind(info) {
        KIND_INT | KIND_VAR | KIND_DECL_TAG => 1,
        KIND_ARRAY => 3,
        KIND_STRUCT | KIND_UNION | KIND_DATASEC | KIND_ENUM64 => 3 * vlen,
        KIND_ENUM | KIND_FUNC_PROTO => 2 * vlen,
        _ => 0,
    }
}

/// FNV-1a: stable across runs and platforms, so output never depends on a random seed.
#[derive(Default, Clone, Copy)]
pub struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 { 0xcbf2_9ce4_8422_2325 } else { self.0 };
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

#[derive(Default, Clone, Copy)]
pub struct FnvBuild;

impl BuildHasher for FnvBuild {
    type Hasher = Fnv;
    fn build_hasher(&self) -> Fnv {
        Fnv::default()
    }
}

/// Hash of a string for the string tables' indexes: 8 bytes per step, then a final mix (the
/// table takes its bucket from the low bits and its tag from the high ones, so both must
/// depend on every byte). Deterministic; no output order depends on it.
pub fn hash_bytes(b: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let step = |h: u64, v: u64| (h ^ v).wrapping_mul(K).rotate_left(29);
    let mut h = (b.len() as u64).wrapping_mul(K);
    let mut chunks = b.chunks_exact(8);
    for c in &mut chunks {
        h = step(h, u64::from_le_bytes(c.try_into().expect("8 bytes")));
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut last = [0u8; 8];
        last[..rest.len()].copy_from_slice(rest);
        h = step(h, u64::from_le_bytes(last));
    }
    // murmur3's 64-bit finaliser
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// Deduplicated string section. Offset 0 is the empty string (of this table, or of the base's
/// table for split BTF, whose own offsets start at `start`).
pub struct StrTab {
    pub data: Vec<u8>,
    pub start: u32,
    /// Hash index of the string starts (relative offsets). A table read from raw BTF builds it
    /// on first use only: a module's encoding looks up a few hundred strings in vmlinux's
    /// ~80,000, which [`StrTab::find_many`] does in one scan without it.
    index: OnceLock<HashTable<u32>>,
}

/// The string starting at `rel` of `data`, without its NUL.
#[inline]
fn str_at(data: &[u8], rel: usize) -> &[u8] {
    let s = &data[rel..];
    &s[..s.iter().position(|&b| b == 0).unwrap_or(s.len())]
}

/// Index of every string start of `data`; a string that occurs twice is found at its first.
fn build_index(data: &[u8]) -> HashTable<u32> {
    let mut index = HashTable::with_capacity(data.iter().filter(|&&b| b == 0).count());
    let mut pos = 0usize;
    while pos < data.len() {
        let s = str_at(data, pos);
        let h = hash_bytes(s);
        if index.find(h, |&r| str_at(data, r as usize) == s).is_none() {
            index.insert_unique(h, pos as u32, |&r| hash_bytes(str_at(data, r as usize)));
        }
        pos += s.len() + 1;
    }
    index
}

/// Bloom key of a string for [`StrTab::find_many`]: its length and first and last bytes.
#[inline]
fn bloom_bit(s: &[u8]) -> usize {
    let (first, last) = (s.first().copied().unwrap_or(0), s.last().copied().unwrap_or(0));
    (s.len().wrapping_mul(0x9e37) ^ usize::from(first) << 4 ^ usize::from(last) << 9) & 0xffff
}

impl StrTab {
    pub fn new(start: u32) -> Self {
        Self::with_capacity(start, 0, 0)
    }

    /// An empty table with room for `strings` strings of `bytes` bytes in all.
    pub fn with_capacity(start: u32, strings: usize, bytes: usize) -> Self {
        let index = OnceLock::from(HashTable::with_capacity(strings));
        let mut t = StrTab { data: Vec::with_capacity(bytes), start, index };
        if start == 0 {
            t.data.push(0);
        }
        t
    }

    /// A table holding the raw string section `data` as it is; indexed when first needed.
    pub fn from_raw(data: &[u8], start: u32) -> Self {
        StrTab { data: data.to_vec(), start, index: OnceLock::new() }
    }

    fn at(&self, rel: u32) -> &[u8] {
        str_at(&self.data, rel as usize)
    }

    /// Bytes of the string at absolute offset `off` of this table.
    pub fn get(&self, off: u32) -> &[u8] {
        if off < self.start {
            return b"";
        }
        self.at(off - self.start)
    }

    fn index(&self) -> &HashTable<u32> {
        self.index.get_or_init(|| build_index(&self.data))
    }

    pub fn find(&self, s: &[u8]) -> Option<u32> {
        let h = hash_bytes(s);
        self.index().find(h, |&rel| self.at(rel) == s).map(|&rel| rel + self.start)
    }

    /// [`StrTab::find`] for each of `queries`: one pass over the table when it has no index
    /// yet and the queries are few (a string's length and end bytes rule most out unhashed).
    pub fn find_many(&self, queries: &[&[u8]]) -> Vec<Option<u32>> {
        if self.index.get().is_some() || queries.len() > self.data.len() / 256 {
            return queries.iter().map(|q| self.find(q)).collect();
        }
        let mut bloom = vec![0u64; 1024];
        let mut wanted: HashTable<(u64, usize)> = HashTable::with_capacity(queries.len());
        for (i, q) in queries.iter().enumerate() {
            let b = bloom_bit(q);
            bloom[b >> 6] |= 1 << (b & 63);
            let h = hash_bytes(q);
            if wanted.find(h, |&(_, j)| queries[j] == *q).is_none() {
                wanted.insert_unique(h, (h, i), |&(h, _)| h);
            }
        }
        let mut found: Vec<Option<u32>> = vec![None; queries.len()];
        let data = &self.data;
        let mut pos = 0usize;
        for end in memchr::memchr_iter(0, data) {
            let s = &data[pos..end];
            let b = bloom_bit(s);
            if bloom[b >> 6] & (1 << (b & 63)) != 0 {
                if let Some(&(_, i)) = wanted.find(hash_bytes(s), |&(_, j)| queries[j] == s) {
                    found[i].get_or_insert(pos as u32 + self.start);
                }
            }
            pos = end + 1;
        }
        // equal queries share the answer of the first of them
        for (i, q) in queries.iter().enumerate() {
            if found[i].is_none() {
                if let Some(&(_, j)) = wanted.find(hash_bytes(q), |&(_, j)| queries[j] == *q) {
                    found[i] = found[j];
                }
            }
        }
        found
    }

    /// Offset of `s`, appended if new. The empty string is always offset 0.
    pub fn add(&mut self, s: &[u8]) -> u32 {
        if s.is_empty() {
            return 0;
        }
        let h = hash_bytes(s);
        self.index();
        let data = &self.data;
        let index = self.index.get_mut().expect("index built above");
        if let Some(&rel) = index.find(h, |&rel| {
            let d = &data[rel as usize..];
            d.len() > s.len() && &d[..s.len()] == s && d[s.len()] == 0
        }) {
            return rel + self.start;
        }
        let rel = self.data.len() as u32;
        self.data.extend_from_slice(s);
        self.data.push(0);
        let data = &self.data;
        index.insert_unique(h, rel, |&r| hash_bytes(str_at(data, r as usize)));
        rel + self.start
    }
}

pub struct Btf {
    /// Type records, back to back.
    pub words: Vec<u32>,
    /// `offs[i]`: index in `words` of type id `start_id + i`.
    pub offs: Vec<u32>,
    pub strings: StrTab,
    /// First id of this object's own types (1, or the base's type count for split BTF).
    pub start_id: u32,
}

impl Btf {
    pub fn new(start_id: u32, start_str_off: u32) -> Self {
        Btf { words: Vec::new(), offs: Vec::new(), strings: StrTab::new(start_str_off), start_id }
    }

    pub fn type_count(&self) -> u32 {
        self.start_id + self.offs.len() as u32
    }

    /// The record of own type `id` (header and trailing words).
    pub fn record(&self, id: u32) -> &[u32] {
        let i = (id - self.start_id) as usize;
        let start = self.offs[i] as usize;
        let end = self.offs.get(i + 1).map_or(self.words.len(), |&o| o as usize);
        &self.words[start..end]
    }

    pub fn record_mut(&mut self, id: u32) -> &mut [u32] {
        let i = (id - self.start_id) as usize;
        let start = self.offs[i] as usize;
        let end = self.offs.get(i + 1).map_or(self.words.len(), |&o| o as usize);
        &mut self.words[start..end]
    }

    fn push(&mut self, name_off: u32, info: u32, size_or_type: u32) -> u32 {
        self.offs.push(self.words.len() as u32);
        self.words.extend_from_slice(&[name_off, info, size_or_type]);
        self.type_count() - 1
    }

    /// Append a whole record (header plus trailing words); returns its id.
    pub fn push_record(&mut self, rec: &[u32]) -> u32 {
        self.offs.push(self.words.len() as u32);
        self.words.extend_from_slice(rec);
        self.type_count() - 1
    }

    fn bump_vlen(&mut self) {
        let start = *self.offs.last().expect("a type to add to") as usize;
        self.words[start + 1] += 1;
    }

    pub fn add_int(&mut self, name: &[u8], size: u32, encoding: u32, bits: u32) -> u32 {
        let n = self.strings.add(name);
        let id = self.push(n, info(KIND_INT, 0, false), size);
        self.words.push((encoding << 24) | bits);
        id
    }

    pub fn add_float(&mut self, name: &[u8], size: u32) -> u32 {
        let n = self.strings.add(name);
        self.push(n, info(KIND_FLOAT, 0, false), size)
    }

    /// PTR, TYPEDEF, VOLATILE, CONST, RESTRICT, TYPE_TAG, FUNC (linkage in `vlen`).
    pub fn add_ref(&mut self, kind: u32, name: &[u8], ty: u32, vlen: u32) -> u32 {
        let n = self.strings.add(name);
        self.push(n, info(kind, vlen, false), ty)
    }

    pub fn add_fwd(&mut self, name: &[u8], is_union: bool) -> u32 {
        let n = self.strings.add(name);
        self.push(n, info(KIND_FWD, 0, is_union), 0)
    }

    pub fn add_array(&mut self, elem: u32, index: u32, nelems: u32) -> u32 {
        let id = self.push(0, info(KIND_ARRAY, 0, false), 0);
        self.words.extend_from_slice(&[elem, index, nelems]);
        id
    }

    /// A STRUCT or UNION with no members yet; `add_member` appends to the last type.
    pub fn add_composite(&mut self, is_union: bool, name: &[u8], size: u32) -> u32 {
        let n = self.strings.add(name);
        let kind = if is_union { KIND_UNION } else { KIND_STRUCT };
        self.push(n, info(kind, 0, false), size)
    }

    pub fn add_member(&mut self, name: &[u8], ty: u32, bit_offset: u32, bitfield_size: u32) {
        let n = self.strings.add(name);
        let start = *self.offs.last().expect("a composite") as usize;
        if bitfield_size != 0 && !info_kflag(self.words[start + 1]) {
            // The first bitfield switches the whole record to the kind_flag encoding, as
            // libbpf's btf__add_field does: earlier members are already plain bit offsets,
            // which read the same with bitfield_size 0.
            self.words[start + 1] |= 1 << 31;
        }
        self.words.extend_from_slice(&[n, ty, (bitfield_size << 24) | bit_offset]);
        self.bump_vlen();
    }

    pub fn add_enum(&mut self, name: &[u8], size: u32, signed: bool, is64: bool) -> u32 {
        let n = self.strings.add(name);
        let kind = if is64 { KIND_ENUM64 } else { KIND_ENUM };
        self.push(n, info(kind, 0, signed), size)
    }

    pub fn add_enum_value(&mut self, name: &[u8], value: u64) {
        let n = self.strings.add(name);
        let start = *self.offs.last().expect("an enum") as usize;
        if info_kind(self.words[start + 1]) == KIND_ENUM64 {
            self.words.extend_from_slice(&[n, value as u32, (value >> 32) as u32]);
        } else {
            self.words.extend_from_slice(&[n, value as u32]);
        }
        self.bump_vlen();
    }

    pub fn add_func_proto(&mut self, ret: u32) -> u32 {
        self.push(0, info(KIND_FUNC_PROTO, 0, false), ret)
    }

    pub fn add_param(&mut self, name: &[u8], ty: u32) {
        let n = self.strings.add(name);
        self.words.extend_from_slice(&[n, ty]);
        self.bump_vlen();
    }

    pub fn add_var(&mut self, name: &[u8], ty: u32, linkage: u32) -> u32 {
        let n = self.strings.add(name);
        let id = self.push(n, info(KIND_VAR, 0, false), ty);
        self.words.push(linkage);
        id
    }

    pub fn add_datasec(&mut self, name: &[u8], size: u32) -> u32 {
        let n = self.strings.add(name);
        self.push(n, info(KIND_DATASEC, 0, false), size)
    }

    pub fn add_secinfo(&mut self, ty: u32, offset: u32, size: u32) {
        self.words.extend_from_slice(&[ty, offset, size]);
        self.bump_vlen();
    }

    pub fn add_decl_tag(&mut self, name: &[u8], ty: u32, component_idx: i32) -> u32 {
        let n = self.strings.add(name);
        let id = self.push(n, info(KIND_DECL_TAG, 0, false), ty);
        self.words.push(component_idx as u32);
        id
    }

    /// Raw BTF: header, types, strings, in the requested byte order.
    pub fn to_bytes(&self, big_endian: bool) -> Vec<u8> {
        let type_len = self.words.len() * 4;
        let str_len = self.strings.data.len();
        let mut out = Vec::with_capacity(24 + type_len + str_len);
        let put16 = |out: &mut Vec<u8>, v: u16| {
            out.extend_from_slice(&if big_endian { v.to_be_bytes() } else { v.to_le_bytes() })
        };
        let put32 = |out: &mut Vec<u8>, v: u32| {
            out.extend_from_slice(&if big_endian { v.to_be_bytes() } else { v.to_le_bytes() })
        };
        put16(&mut out, 0xeb9f);
        out.push(1); // version
        out.push(0); // flags
        put32(&mut out, 24);
        put32(&mut out, 0);
        put32(&mut out, type_len as u32);
        put32(&mut out, type_len as u32);
        put32(&mut out, str_len as u32);
        for &w in &self.words {
            put32(&mut out, w);
        }
        out.extend_from_slice(&self.strings.data);
        out
    }
}

/// Read-only view of a base BTF given as raw bytes (for split encoding and dedup against it).
pub fn parse_raw(data: &[u8], start_id: u32, start_str_off: u32) -> Result<Btf, String> {
    if data.len() < 24 {
        return Err("BTF too short for a header".into());
    }
    let big = match (data[0], data[1]) {
        (0x9f, 0xeb) => false,
        (0xeb, 0x9f) => true,
        _ => return Err("bad BTF magic".into()),
    };
    let rd = |off: usize| -> u32 {
        let b: [u8; 4] = data[off..off + 4].try_into().expect("4 bytes");
        if big {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }
    };
    let hdr_len = rd(4) as usize;
    let (type_off, type_len, str_off, str_len) =
        (rd(8) as usize, rd(12) as usize, rd(16) as usize, rd(20) as usize);
    let body = data.len().checked_sub(hdr_len).ok_or("BTF header length past the end")?;
    if type_off + type_len > body || str_off + str_len > body || type_len % 4 != 0 {
        return Err("BTF section lengths past the end of data".into());
    }
    let mut btf = Btf::new(start_id, start_str_off);
    btf.strings = StrTab::from_raw(&data[hdr_len + str_off..hdr_len + str_off + str_len], start_str_off);
    let words: Vec<u32> =
        (0..type_len / 4).map(|i| rd(hdr_len + type_off + 4 * i)).collect();
    let mut i = 0usize;
    while i < words.len() {
        if i + 3 > words.len() {
            return Err("truncated BTF type record".into());
        }
        let n = 3 + extra_words(words[i + 1]);
        if i + n > words.len() {
            return Err("truncated BTF type record".into());
        }
        btf.offs.push(i as u32);
        i += n;
    }
    btf.words = words;
    Ok(btf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_many_agrees_with_the_index() {
        // "" "foo" "bar" "foobar" "foo" (a repeat: the first one counts) "x", then enough
        // filler strings that 7 queries count as few (the scan, not the index, answers)
        let mut raw = b"\0foo\0bar\0foobar\0foo\0x\0".to_vec();
        for i in 0..400 {
            raw.extend_from_slice(format!("filler{i}\0").as_bytes());
        }
        let scanned = StrTab::from_raw(&raw, 100);
        let queries: Vec<&[u8]> = vec![b"foo", b"bar", b"oobar", b"", b"nope", b"foo", b"x"];
        let got = scanned.find_many(&queries);
        assert!(scanned.index.get().is_none(), "answered by the scan");
        assert_eq!(got, vec![Some(101), Some(105), None, Some(100), None, Some(101), Some(120)]);
        // the index gives the same answers
        let indexed = StrTab::from_raw(&raw, 100);
        assert_eq!(indexed.find(b"bar"), Some(105));
        assert_eq!(indexed.find_many(&queries), got);
    }

    #[test]
    fn add_on_a_raw_table_reuses_its_strings() {
        let mut t = StrTab::from_raw(b"\0foo\0bar\0", 0);
        assert_eq!(t.add(b"bar"), 5);
        assert_eq!(t.add(b"baz"), 9);
        assert_eq!(t.get(9), b"baz");
    }
}
