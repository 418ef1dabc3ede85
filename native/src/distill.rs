//! Distilled base BTF, libbpf 1.5's `btf__distill_base`, for pahole's `distilled_base`.
//!
//! The same algorithm as `btfbuild.btf.distill` on the Python model (which documents it and
//! serves `btfbuild distill`); here it runs on the encoder's output so that a module build does
//! not load vmlinux's 100 k types into Python objects. The tests check both give the same bytes.
//!
//! Base types the split types reach (not following the members of named structs/unions):
//! named INT/FLOAT/FWD are copied into the new base; named STRUCT/UNION become empty ones of the
//! same size; named ENUM/ENUM64 become empty unsigned ENUMs of the same size; everything else
//! (anonymous composites and enums, arrays, typedefs, pointers, qualifiers, prototypes, type
//! tags) moves into the new split BTF after the module's own types, in base id order.

use crate::btf::{
    info, info_kind, Btf, KIND_DATASEC, KIND_DECL_TAG, KIND_ENUM, KIND_ENUM64, KIND_FLOAT,
    KIND_FUNC, KIND_FWD, KIND_INT, KIND_STRUCT, KIND_UNION, KIND_VAR,
};
use crate::dedup::for_each_id_slot;
use crate::encode::remap_record;

fn kind_name(kind: u32) -> &'static str {
    match kind {
        KIND_FUNC => "FUNC",
        KIND_VAR => "VAR",
        KIND_DATASEC => "DATASEC",
        KIND_DECL_TAG => "DECL_TAG",
        _ => "type",
    }
}

/// `(new_base, new_split)` for split BTF `split` over `base`.
pub fn distill(split: &Btf, base: &Btf) -> Result<(Btf, Btf), String> {
    let split_start = split.start_id;
    let base_count = base.type_count();
    // base ids the split types reach
    let mut used = vec![false; base_count as usize];
    let mut stack: Vec<u32> = Vec::new();
    for id in split_start..split.type_count() {
        let rec = split.record(id);
        for_each_id_slot(rec, |p| stack.push(rec[p]));
        while let Some(r) = stack.pop() {
            if r == 0 || r >= split_start || used[r as usize] {
                continue;
            }
            let t = base.record(r);
            let kind = info_kind(t[1]);
            if matches!(kind, KIND_FUNC | KIND_VAR | KIND_DATASEC | KIND_DECL_TAG) {
                return Err(format!(
                    "type [{id}] refers to base type [{r}], a {}: split BTF should only refer \
                     to data types of its base",
                    kind_name(kind)
                ));
            }
            used[r as usize] = true;
            if matches!(kind, KIND_STRUCT | KIND_UNION) && t[0] != 0 {
                continue;
            }
            for_each_id_slot(t, |p| stack.push(t[p]));
        }
    }
    let str_of = |off: u32| -> &[u8] {
        if off < split.strings.start { base.strings.get(off) } else { split.strings.get(off) }
    };

    let mut new_base = Btf::new(1, 0);
    let mut id_map = vec![0u32; base_count as usize];
    let mut to_split = Vec::new();
    for old in 1..base_count {
        if !used[old as usize] {
            continue;
        }
        let t = base.record(old);
        let kind = info_kind(t[1]);
        let named = t[0] != 0;
        id_map[old as usize] = match kind {
            KIND_INT | KIND_FLOAT | KIND_FWD => {
                let mut rec = t.to_vec();
                let name = new_base.strings.add(base.strings.get(t[0]));
                rec[0] = name;
                new_base.push_record(&rec)
            }
            KIND_STRUCT | KIND_UNION if named => {
                let name = new_base.strings.add(base.strings.get(t[0]));
                new_base.push_record(&[name, info(kind, 0, false), t[2]])
            }
            KIND_ENUM | KIND_ENUM64 if named => {
                let name = new_base.strings.add(base.strings.get(t[0]));
                new_base.push_record(&[name, info(KIND_ENUM, 0, false), t[2]])
            }
            _ => {
                to_split.push(old);
                continue;
            }
        };
    }

    let new_start = new_base.type_count();
    let mut new_split = Btf::new(new_start, new_base.strings.data.len() as u32);
    let shift = split_start - new_start;
    let moved_first = split.type_count() - shift;
    for (n, &old) in to_split.iter().enumerate() {
        id_map[old as usize] = moved_first + n as u32;
    }
    let ids = |i: u32| if i >= split_start { i - shift } else { id_map[i as usize] };
    let copy = |rec: &[u32], new_split: &mut Btf| {
        let mut rec = rec.to_vec();
        // names in encoding order; one the new base has is shared with it (btf__add_str)
        remap_record(
            &mut rec,
            |off| {
                let s = str_of(off);
                if s.is_empty() {
                    0
                } else {
                    new_base.strings.find(s).unwrap_or_else(|| new_split.strings.add(s))
                }
            },
            ids,
        );
        new_split.push_record(&rec);
    };
    for id in split_start..split.type_count() {
        copy(split.record(id), &mut new_split);
    }
    for &old in &to_split {
        copy(base.record(old), &mut new_split);
    }
    Ok((new_base, new_split))
}

