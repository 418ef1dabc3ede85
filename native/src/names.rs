//! The one question resolve_btfids asks of BTF: which type ids carry a given kind and name.
//!
//! Python (`btfbuild.btfids.btfnames.RawNames`) validates the header and keeps the interface;
//! this module walks the type records, which for a vmlinux's 100,000+ types is the part that
//! costs tens of milliseconds in Python and well under one here. Nothing is built but a hash
//! set of the wanted names.

use crate::btf::{extra_words, info_kind};
use hashbrown::HashMap;

/// Highest kind number libbpf parses (ENUM64).
const MAX_KIND: u32 = 19;

#[inline]
fn word(types: &[u8], i: usize, little: bool) -> u32 {
    let b = [types[4 * i], types[4 * i + 1], types[4 * i + 2], types[4 * i + 3]];
    if little { u32::from_le_bytes(b) } else { u32::from_be_bytes(b) }
}

/// Word index of every record of `types` (whole 32-bit words). `Err(n)`: the records parse up
/// to record `n`, which has an unknown kind or runs past the end.
pub fn record_starts(types: &[u8], little: bool) -> Result<Vec<u32>, usize> {
    let n = types.len() / 4;
    let mut starts = Vec::with_capacity(n / 4);
    let mut i = 0usize;
    while i < n {
        if i + 3 > n {
            return Err(starts.len());
        }
        let info = word(types, i + 1, little);
        if info_kind(info) == 0 || info_kind(info) > MAX_KIND {
            return Err(starts.len());
        }
        starts.push(i as u32);
        i += 3 + extra_words(info);
    }
    if i != n {
        return Err(starts.len() - 1);
    }
    Ok(starts)
}

/// One level of a split chain: its type records, its strings and the id of its first type.
/// The string offsets of a level continue after those of the levels before it.
pub struct Level<'a> {
    pub types: &'a [u8],
    pub strings: &'a [u8],
    pub little: bool,
    pub start_id: u32,
}

/// The NUL-terminated string at absolute offset `off` of the levels' unified string table.
fn string_at<'a>(levels: &[Level<'a>], mut off: usize) -> Option<&'a [u8]> {
    for level in levels {
        if off < level.strings.len() {
            let tail = &level.strings[off..];
            return Some(tail.split(|&b| b == 0).next().unwrap_or(tail));
        }
        off -= level.strings.len();
    }
    None
}

/// For each level (base first) and each record whose kind is in `wanted` with a name in its
/// list, `(kind, index of the name in that list, type id)`, in id order. A name offset outside
/// the strings is an error. (A name read from the middle of a longer string counts, as in
/// libbpf.)
pub fn lookup(
    levels: &[Level<'_>],
    wanted: &[(u32, Vec<&[u8]>)],
) -> Result<Vec<(u32, u32, u32)>, String> {
    let mut kinds = [false; 32];
    // a lookup table only, never iterated: the fast default hasher cannot affect any output
    let mut names: HashMap<(u32, &[u8]), u32> = HashMap::new();
    for (kind, list) in wanted {
        kinds[(*kind & 31) as usize] = true;
        for (i, name) in list.iter().enumerate() {
            names.entry((*kind, *name)).or_insert(i as u32);
        }
    }
    let mut out = Vec::new();
    for level in levels {
        let starts = record_starts(level.types, level.little)
            .map_err(|n| format!("type [{}]: bad record", level.start_id as usize + n))?;
        for (j, &s) in starts.iter().enumerate() {
            let s = s as usize;
            let kind = info_kind(word(level.types, s + 1, level.little));
            if !kinds[kind as usize] {
                continue;
            }
            let off = word(level.types, s, level.little) as usize;
            let Some(name) = string_at(levels, off) else {
                return Err(format!("invalid name offset {off}"));
            };
            if let Some(&idx) = names.get(&(kind, name)) {
                out.push((kind, idx, level.start_id + j as u32));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(words: &[u32]) -> Vec<u8> {
        words.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    #[test]
    fn finds_kind_and_name_across_levels() {
        // base strings: "" "foo" "bar"; split strings: "xbar" (offset 9), read at 10 as "bar"
        let base = rec(&[1, 4 << 24, 8, /* struct foo, no members */ 5, 12 << 24, 0]);
        let split = rec(&[10, 4 << 24 | 1, 4, 1, 2, 0 /* struct bar, one member */]);
        let levels = [
            Level { types: &base, strings: b"\0foo\0bar\0", little: true, start_id: 1 },
            Level { types: &split, strings: b"xbar\0", little: true, start_id: 3 },
        ];
        let wanted = vec![(4, vec![&b"bar"[..], &b"foo"[..]]), (12, vec![&b"bar"[..]])];
        let got = lookup(&levels, &wanted).unwrap();
        assert_eq!(got, vec![(4, 1, 1), (12, 0, 2), (4, 0, 3)]);
    }

    #[test]
    fn bad_records_are_reported() {
        assert_eq!(record_starts(&rec(&[0, 30 << 24, 0]), true), Err(0));
        assert_eq!(record_starts(&rec(&[0, 4 << 24 | 2, 0, 1, 2, 3]), true), Err(0));
        assert_eq!(record_starts(&rec(&[0, 2 << 24, 0, 0]), true), Err(1));
        let levels = [Level { types: &rec(&[9, 4 << 24, 0]), strings: b"\0", little: true, start_id: 1 }];
        assert!(lookup(&levels, &[(4, vec![&b"x"[..]])]).is_err());
    }
}
