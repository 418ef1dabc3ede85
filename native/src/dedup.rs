//! BTF deduplication with the algorithm and results of libbpf 1.5's `btf__dedup`.
//!
//! Every compile unit describes the types it uses, so the BTF of all units put together holds
//! each header type once per unit that includes it, sometimes only as a forward declaration.
//! Dedup keeps one representative of each distinct type (the first in id order, its
//! "canonical" type), resolves forward declarations to the structs and unions they name, and
//! renumbers everything. Passes, in order:
//!
//! 1. `prep`: with a base BTF, make every base type canonical for itself and index it, so split
//!    types are mapped onto base types and base types are never dropped or renumbered.
//! 2. `dedup_strings`: rewrite the string table to hold only strings the types refer to, in
//!    the order of first reference, and point split strings found in the base at the base
//!    copy. Done first because every later comparison compares string offsets as numbers.
//! 3. `dedup_prim_types`: INT, FLOAT, FWD and ENUM/ENUM64 refer to no other type, so they are
//!    deduplicated by plain equality; an enum with no values (a forward-declared enum) merges
//!    with a full enum or enum64 of the same name.
//! 4. `dedup_struct_types`: structs and unions can form cycles, so a candidate is compared with
//!    a canonical one by walking both type graphs side by side, recording in a hypothetical map
//!    which canonical type each candidate type would stand for. A contradiction ends the walk
//!    unless the two types are identical arrays, structs or pointers (compilers do emit such
//!    twins within one unit). FWD matches a STRUCT/UNION of the same name and kind; when the
//!    walk succeeds, the FWDs it met are resolved for good.
//! 5. `resolve_fwds`: a FWD never met in such a walk is resolved to the struct/union of its name
//!    if exactly one canonical struct or union has that name.
//! 6. `dedup_ref_types`: pointers, modifiers, typedefs, arrays, functions, prototypes and tags
//!    can only reach a cycle through a struct/union, which are final by now; so their
//!    references are resolved depth first and they are deduplicated by equality of records.
//! 7. `compact_types`: keep the canonical types only, back to back, noting their new ids.
//! 8. `remap_types`: rewrite every type reference to the new id of its canonical type.
//!
//! VAR and DATASEC are never deduplicated. To give byte-identical results to libbpf, the
//! candidate index reproduces libbpf's hash values and the order in which its hash map visits
//! several candidates with the same hash (newest first, reversed by each table growth); the
//! visiting order only matters when more than one candidate would match, which is rare.
//! Graph walks use explicit stacks rather than recursion, so deep type graphs cannot overflow
//! a thread's stack.

use crate::btf::{
    extra_words, info_kflag, info_kind, info_vlen, Btf, StrTab, KIND_ARRAY, KIND_CONST,
    KIND_DATASEC, KIND_DECL_TAG, KIND_ENUM, KIND_ENUM64, KIND_FLOAT, KIND_FUNC, KIND_FUNC_PROTO,
    KIND_FWD, KIND_INT, KIND_PTR, KIND_RESTRICT, KIND_STRUCT, KIND_TYPEDEF, KIND_TYPE_TAG,
    KIND_UNION, KIND_VAR, KIND_VOLATILE,
};
use hashbrown::hash_map::Entry;
use hashbrown::HashMap;
use std::hash::{BuildHasher, Hasher};

/// Largest valid type id; map values above it are the two markers below.
const MAX_ID: u32 = 0x7fff_ffff;
const UNPROCESSED: u32 = u32::MAX;
const IN_PROGRESS: u32 = u32::MAX - 1;
/// End of a candidate list.
const NIL: u32 = u32::MAX;

/// Type 0, `void`: all zero, as libbpf presents it.
static VOID: [u32; 3] = [0, 0, 0];

/// Deduplicate `btf` in place, after checking it is well formed. `base` is the BTF that split
/// BTF `btf` extends (its types keep their ids and absorb equal split types); `None` for a
/// standalone BTF. On error the contents of `btf` are unspecified.
pub fn dedup(btf: &mut Btf, base: Option<&Btf>) -> Result<(), String> {
    check(btf, base)?;
    dedup_built(btf, base).map(|_| ())
}

/// [`dedup`] of BTF this crate built itself, so well formed: its check (a pass over every
/// record, ~70 ms on vmlinux) is skipped. A bug that breaks that promise still cannot reach the
/// user as a crash: the caller turns a panic into an error. Also returns where each input type
/// id went: `map[old] = new` (the base's ids and 0 map to themselves); the encoder needs it to
/// tell whether two prototypes merged.
pub(crate) fn dedup_built(btf: &mut Btf, base: Option<&Btf>) -> Result<Vec<u32>, String> {
    let mut ty = Types {
        words: std::mem::take(&mut btf.words),
        offs: std::mem::take(&mut btf.offs),
        start_id: btf.start_id,
        base,
    };
    let result = run(&mut ty, &mut btf.strings);
    btf.words = ty.words;
    btf.offs = ty.offs;
    result
}

fn run(ty: &mut Types, strings: &mut StrTab) -> Result<Vec<u32>, String> {
    let t0 = std::time::Instant::now();
    let mut st = State::new(ty);
    let count = ty.start_id as usize + ty.offs.len();
    st.prep(ty)?;
    crate::encode::timing_note("dedup: prepared", t0);
    dedup_strings(ty, strings)?;
    crate::encode::timing_note("dedup: strings", t0);
    st.dedup_prim_types(ty)?;
    crate::encode::timing_note("dedup: primitive types", t0);
    st.dedup_struct_types(ty)?;
    crate::encode::timing_note("dedup: structs and unions", t0);
    st.resolve_fwds(ty);
    st.dedup_ref_types(ty)?;
    crate::encode::timing_note("dedup: reference types", t0);
    st.compact_types(ty);
    st.remap_types(ty)?;
    crate::encode::timing_note("dedup: compacted", t0);
    Ok((0..count as u32).map(|id| st.hypot_map[st.resolve(id) as usize]).collect())
}

// ---- record layout helpers ------------------------------------------------------------------

#[inline]
fn kind(t: &[u32]) -> u32 {
    info_kind(t[1])
}

#[inline]
fn vlen(t: &[u32]) -> usize {
    info_vlen(t[1]) as usize
}

#[inline]
fn is_any_enum(t: &[u32]) -> bool {
    matches!(kind(t), KIND_ENUM | KIND_ENUM64)
}

/// An enum without values: what a forward-declared enum looks like.
#[inline]
fn is_enum_fwd(t: &[u32]) -> bool {
    is_any_enum(t) && vlen(t) == 0
}

/// The kind a FWD stands for.
#[inline]
fn fwd_kind(t: &[u32]) -> u32 {
    if info_kflag(t[1]) {
        KIND_UNION
    } else {
        KIND_STRUCT
    }
}

/// Word positions in record `t` that hold string offsets, in libbpf's visiting order.
fn for_each_str_slot(t: &[u32], mut f: impl FnMut(usize)) {
    f(0);
    let (first, step) = match kind(t) {
        KIND_ENUM | KIND_FUNC_PROTO => (3, 2),
        KIND_ENUM64 | KIND_STRUCT | KIND_UNION => (3, 3),
        _ => return,
    };
    for i in 0..vlen(t) {
        f(first + step * i);
    }
}

/// Word positions in record `t` that hold type ids, in libbpf's visiting order.
pub(crate) fn for_each_id_slot(t: &[u32], mut f: impl FnMut(usize)) {
    match kind(t) {
        KIND_FWD | KIND_CONST | KIND_VOLATILE | KIND_RESTRICT | KIND_PTR | KIND_TYPEDEF
        | KIND_FUNC | KIND_VAR | KIND_DECL_TAG | KIND_TYPE_TAG => f(2),
        KIND_ARRAY => {
            f(3);
            f(4);
        }
        KIND_STRUCT | KIND_UNION => (0..vlen(t)).for_each(|i| f(4 + 3 * i)),
        KIND_FUNC_PROTO => {
            f(2);
            (0..vlen(t)).for_each(|i| f(4 + 2 * i));
        }
        KIND_DATASEC => (0..vlen(t)).for_each(|i| f(3 + 3 * i)),
        _ => {}
    }
}

/// Reject input that would make the passes index out of bounds: unknown kinds, records whose
/// length disagrees with their header, type ids past the last type, string offsets past the
/// string table, and a base that does not fit.
pub(crate) fn check(btf: &Btf, base: Option<&Btf>) -> Result<(), String> {
    match base {
        None if btf.start_id != 1 => {
            return Err(format!("split BTF (first id {}) needs its base BTF", btf.start_id))
        }
        Some(b) => {
            if b.start_id != 1 {
                return Err("base BTF must not itself be split BTF".into());
            }
            if b.type_count() != btf.start_id {
                return Err(format!(
                    "base BTF has {} types but split BTF starts at id {}",
                    b.type_count(),
                    btf.start_id
                ));
            }
            if b.strings.data.len() != btf.strings.start as usize {
                return Err(format!(
                    "base BTF has {} bytes of strings but split strings start at {}",
                    b.strings.data.len(),
                    btf.strings.start
                ));
            }
        }
        None => {}
    }
    if btf.type_count() > MAX_ID {
        return Err("too many BTF types".into());
    }
    let count = btf.type_count();
    let str_end = btf.strings.start as u64 + btf.strings.data.len() as u64;
    let mut next = 0usize;
    for (i, &off) in btf.offs.iter().enumerate() {
        let id = btf.start_id + i as u32;
        let off = off as usize;
        if off != next || off + 3 > btf.words.len() {
            return Err(format!("type [{id}]: record index out of step with the records"));
        }
        let info = btf.words[off + 1];
        if !(KIND_INT..=KIND_ENUM64).contains(&info_kind(info)) {
            return Err(format!("type [{id}]: unknown kind {}", info_kind(info)));
        }
        next = off + 3 + extra_words(info);
        if next > btf.words.len() {
            return Err(format!("type [{id}]: record runs past the end"));
        }
        let t = &btf.words[off..next];
        let mut bad = None;
        for_each_id_slot(t, |p| {
            if t[p] >= count && bad.is_none() {
                bad = Some(format!("type [{id}]: reference to type {} out of range", t[p]));
            }
        });
        for_each_str_slot(t, |p| {
            if u64::from(t[p]) >= str_end.max(1) && bad.is_none() {
                bad = Some(format!("type [{id}]: string offset {} out of range", t[p]));
            }
        });
        if let Some(e) = bad {
            return Err(e);
        }
    }
    if next != btf.words.len() {
        return Err("trailing words after the last type record".into());
    }
    Ok(())
}

// ---- libbpf's type signature hashes and comparisons -----------------------------------------
//
// The hashes are libbpf's bit for bit (`long` arithmetic, wrapping), so that the same types
// share a candidate list here as there. A list may hold types of any kind whose hashes
// collide, so every comparison checks the header (and with it the kind and record length)
// before anything else.

#[inline]
fn hc(h: i64, v: u32) -> i64 {
    h.wrapping_mul(31).wrapping_add(i64::from(v))
}

fn hash_common(t: &[u32]) -> i64 {
    hc(hc(hc(0, t[0]), t[1]), t[2])
}

fn equal_common(a: &[u32], b: &[u32]) -> bool {
    a[..3] == b[..3]
}

/// INT and DECL_TAG: the header and the one extra word.
fn hash_int_tag(t: &[u32]) -> i64 {
    hc(hash_common(t), t[3])
}

fn equal_int_tag(a: &[u32], b: &[u32]) -> bool {
    equal_common(a, b) && a[3] == b[3]
}

/// Name only, so that forward-declared enums meet full enums of either width.
fn hash_enum(t: &[u32]) -> i64 {
    hc(0, t[0])
}

/// Same header and same values (the headers being equal, the records have the same length).
fn equal_enum(a: &[u32], b: &[u32]) -> bool {
    equal_common(a, b) && a[3..] == b[3..]
}

fn compat_enum(a: &[u32], b: &[u32]) -> bool {
    if !is_enum_fwd(a) && !is_enum_fwd(b) {
        return equal_enum(a, b);
    }
    // a forward declaration has no values, and matches either enum size and kind
    a[0] == b[0] && is_any_enum(a) && is_any_enum(b)
}

/// Header, member names and offsets; not member types, which may not be final yet.
fn hash_struct(t: &[u32]) -> i64 {
    let mut h = hash_common(t);
    for m in t[3..].chunks_exact(3) {
        h = hc(h, m[0]);
        h = hc(h, m[2]);
    }
    h
}

fn shallow_equal_struct(a: &[u32], b: &[u32]) -> bool {
    equal_common(a, b)
        && a[3..]
            .chunks_exact(3)
            .zip(b[3..].chunks_exact(3))
            .all(|(x, y)| x[0] == y[0] && x[2] == y[2])
}

fn hash_array(t: &[u32]) -> i64 {
    hc(hc(hc(hash_common(t), t[3]), t[4]), t[5])
}

fn equal_array(a: &[u32], b: &[u32]) -> bool {
    equal_common(a, b) && a[3..6] == b[3..6]
}

/// Arrays compatible apart from the element and index types.
fn compat_array(a: &[u32], b: &[u32]) -> bool {
    equal_common(a, b) && a[5] == b[5]
}

fn hash_fnproto(t: &[u32]) -> i64 {
    let mut h = hash_common(t);
    for p in t[3..].chunks_exact(2) {
        h = hc(h, p[0]);
        h = hc(h, p[1]);
    }
    h
}

/// Same header and same parameters (the info words being equal, so are the lengths).
fn equal_fnproto(a: &[u32], b: &[u32]) -> bool {
    equal_common(a, b) && a[3..] == b[3..]
}

/// Same name, info and parameter names; return and parameter types aside.
fn compat_fnproto(a: &[u32], b: &[u32]) -> bool {
    a[0] == b[0]
        && a[1] == b[1]
        && a[3..].chunks_exact(2).zip(b[3..].chunks_exact(2)).all(|(x, y)| x[0] == y[0])
}

// ---- the types being deduplicated ----------------------------------------------------------

/// Records of the BTF being deduplicated (taken out of the `Btf` for the duration) and of its
/// base, addressed by type id.
struct Types<'a> {
    words: Vec<u32>,
    offs: Vec<u32>,
    start_id: u32,
    base: Option<&'a Btf>,
}

impl Types<'_> {
    fn count(&self) -> u32 {
        self.start_id + self.offs.len() as u32
    }

    /// Index in `words` of own type `id`.
    #[inline]
    fn off(&self, id: u32) -> usize {
        self.offs[(id - self.start_id) as usize] as usize
    }

    #[inline]
    fn rec(&self, id: u32) -> &[u32] {
        if id >= self.start_id {
            let i = (id - self.start_id) as usize;
            let start = self.offs[i] as usize;
            let end = self.offs.get(i + 1).map_or(self.words.len(), |&o| o as usize);
            &self.words[start..end]
        } else if id == 0 {
            &VOID
        } else {
            self.base.expect("ids below start_id belong to the base").record(id)
        }
    }

    #[inline]
    fn kind(&self, id: u32) -> u32 {
        kind(self.rec(id))
    }
}

// ---- candidate index --------------------------------------------------------------------------

/// Mixing hasher for integer keys (deterministic; the default hasher is seeded randomly).
#[derive(Default, Clone, Copy)]
struct MixBuild;

struct Mix(u64);

impl Hasher for Mix {
    fn finish(&self) -> u64 {
        // splitmix64's finalizer
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn write_u32(&mut self, v: u32) {
        self.0 ^= u64::from(v);
    }
    fn write_i64(&mut self, v: i64) {
        self.0 ^= v as u64;
    }
}

impl BuildHasher for MixBuild {
    type Hasher = Mix;
    fn build_hasher(&self) -> Mix {
        Mix(0)
    }
}

#[cfg(test)]
thread_local! {
    /// Tests can make all hashes collide, so that every canonical type is a candidate for
    /// every type and all comparisons meet types of other kinds.
    pub(crate) static FORCE_COLLISIONS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

#[inline]
fn test_key(key: i64) -> i64 {
    #[cfg(test)]
    if FORCE_COLLISIONS.with(|f| f.get()) {
        return 0;
    }
    key
}

struct Node {
    id: u32,
    next: u32,
    prev: u32,
}

/// Canonical types by signature hash, a list per hash value.
///
/// libbpf keeps these in a chained hash map that inserts at the head of a chain (so a lookup
/// sees the newest candidate first) and rebuilds its chains in reverse whenever it grows (at
/// more than 3/4 full, starting from 4 buckets). Each list here is doubly linked and read from
/// its head or its tail depending on how many growths libbpf would have done so far, which
/// gives the same visiting order.
struct Candidates {
    lists: HashMap<i64, (u32, u32), MixBuild>,
    nodes: Vec<Node>,
    len: usize,
    cap: usize,
    reversed: bool,
}

impl Candidates {
    /// `capacity`: how many candidates are known to come (the base's types, all added first).
    fn new(capacity: usize) -> Self {
        Candidates {
            lists: HashMap::with_capacity_and_hasher(capacity, MixBuild),
            nodes: Vec::with_capacity(capacity),
            len: 0,
            cap: 0,
            reversed: false,
        }
    }

    fn add(&mut self, key: i64, id: u32) {
        let key = test_key(key);
        if self.cap == 0 || (self.len + 1) * 4 / 3 > self.cap {
            self.cap = if self.cap == 0 { 4 } else { self.cap * 2 };
            self.reversed = !self.reversed;
        }
        self.len += 1;
        let n = self.nodes.len() as u32;
        match self.lists.entry(key) {
            Entry::Vacant(e) => {
                self.nodes.push(Node { id, next: NIL, prev: NIL });
                e.insert((n, n));
            }
            Entry::Occupied(mut e) => {
                let (head, tail) = *e.get();
                // the front as libbpf reads it is the physical head unless reversed
                if self.reversed {
                    self.nodes.push(Node { id, next: NIL, prev: tail });
                    self.nodes[tail as usize].next = n;
                    e.get_mut().1 = n;
                } else {
                    self.nodes.push(Node { id, next: head, prev: NIL });
                    self.nodes[head as usize].prev = n;
                    e.get_mut().0 = n;
                }
            }
        }
    }

    /// First node for `key`, or NIL.
    #[inline]
    fn first(&self, key: i64) -> u32 {
        match self.lists.get(&test_key(key)) {
            None => NIL,
            Some(&(head, tail)) => {
                if self.reversed {
                    tail
                } else {
                    head
                }
            }
        }
    }

    #[inline]
    fn next(&self, node: u32) -> u32 {
        let n = &self.nodes[node as usize];
        if self.reversed {
            n.prev
        } else {
            n.next
        }
    }

    #[inline]
    fn id(&self, node: u32) -> u32 {
        self.nodes[node as usize].id
    }

    /// First candidate for `key` that `pred` accepts.
    fn find(&self, key: i64, mut pred: impl FnMut(u32) -> bool) -> Option<u32> {
        let mut cur = self.first(key);
        while cur != NIL {
            let id = self.id(cur);
            if pred(id) {
                return Some(id);
            }
            cur = self.next(cur);
        }
        None
    }
}

// ---- dedup state --------------------------------------------------------------------------------

/// Outcome of comparing one pair of types during a graph walk.
enum Step {
    Equal,
    Differ,
    /// Equal so far; the pairs pushed on the walk stack decide.
    Descend,
}

struct State {
    /// Canonical type of each type id (base and own), or UNPROCESSED / IN_PROGRESS. Chains
    /// (a FWD mapped to a struct mapped to its canonical struct) are followed by `resolve`.
    map: Vec<u32>,
    /// During a struct graph walk: the candidate type each canonical-graph type was paired with.
    /// Reused by compaction for old id -> new id.
    hypot_map: Vec<u32>,
    /// Keys set in `hypot_map`, in the order they were set.
    hypot_list: Vec<u32>,
    /// The walk would need a base FWD resolved to a split struct: the base cannot change, so
    /// the graphs count as different (apart from recording the FWD resolution).
    hypot_adjust_canon: bool,
    cands: Candidates,
    /// Pending (candidate, canonical) pairs of a graph walk.
    walk: Vec<(u32, u32)>,
}

impl State {
    fn new(ty: &Types) -> Self {
        let n = ty.count() as usize;
        let mut map = vec![UNPROCESSED; n];
        map[0] = 0;
        for id in ty.start_id..ty.count() {
            if matches!(ty.kind(id), KIND_VAR | KIND_DATASEC) {
                map[id as usize] = id;
            }
        }
        State {
            map,
            hypot_map: vec![UNPROCESSED; n],
            hypot_list: Vec::new(),
            hypot_adjust_canon: false,
            cands: Candidates::new(ty.start_id as usize),
            walk: Vec::new(),
        }
    }

    #[inline]
    fn is_mapped(&self, id: u32) -> bool {
        self.map[id as usize] <= MAX_ID
    }

    /// Canonical id of `id` so far (itself if not yet mapped).
    #[inline]
    fn resolve(&self, mut id: u32) -> u32 {
        loop {
            let m = self.map[id as usize];
            if m > MAX_ID || m == id {
                return id;
            }
            id = m;
        }
    }

    /// The struct/union a FWD resolves to, if any; otherwise `id` itself.
    fn resolve_fwd(&self, ty: &Types, id: u32) -> u32 {
        if ty.kind(id) != KIND_FWD {
            return id;
        }
        let r = self.resolve(id);
        if ty.kind(r) != KIND_FWD {
            r
        } else {
            id
        }
    }

    /// Pass 1: base types are their own canonical types and candidates for split types.
    fn prep(&mut self, ty: &Types) -> Result<(), String> {
        for id in 1..ty.start_id {
            self.map[id as usize] = id;
            let t = ty.rec(id);
            let h = match kind(t) {
                KIND_VAR | KIND_DATASEC => continue,
                KIND_CONST | KIND_VOLATILE | KIND_RESTRICT | KIND_PTR | KIND_FWD | KIND_TYPEDEF
                | KIND_FUNC | KIND_FLOAT | KIND_TYPE_TAG => hash_common(t),
                KIND_INT | KIND_DECL_TAG => hash_int_tag(t),
                KIND_ENUM | KIND_ENUM64 => hash_enum(t),
                KIND_STRUCT | KIND_UNION => hash_struct(t),
                KIND_ARRAY => hash_array(t),
                KIND_FUNC_PROTO => hash_fnproto(t),
                k => return Err(format!("base type [{id}]: unknown kind {k}")),
            };
            self.cands.add(h, id);
        }
        Ok(())
    }

    /// Pass 3: types that refer to no other type.
    fn dedup_prim_types(&mut self, ty: &Types) -> Result<(), String> {
        for id in ty.start_id..ty.count() {
            let t = ty.rec(id);
            let (h, new_id) = match kind(t) {
                KIND_INT => {
                    let h = hash_int_tag(t);
                    (h, self.cands.find(h, |c| equal_int_tag(t, ty.rec(c))))
                }
                KIND_FWD | KIND_FLOAT => {
                    let h = hash_common(t);
                    (h, self.cands.find(h, |c| equal_common(t, ty.rec(c))))
                }
                KIND_ENUM | KIND_ENUM64 => {
                    let h = hash_enum(t);
                    let mut found = None;
                    let mut cur = self.cands.first(h);
                    while cur != NIL {
                        let c = self.cands.id(cur);
                        let ct = ty.rec(c);
                        if equal_enum(t, ct) {
                            found = Some(c);
                            break;
                        }
                        if compat_enum(t, ct) {
                            if is_enum_fwd(t) {
                                // a forward declaration takes the full enum
                                found = Some(c);
                                break;
                            }
                            // a canonical forward declaration now resolves to this full enum
                            self.map[c as usize] = id;
                        }
                        cur = self.cands.next(cur);
                    }
                    (h, found)
                }
                KIND_CONST | KIND_VOLATILE | KIND_RESTRICT | KIND_PTR | KIND_TYPEDEF
                | KIND_ARRAY | KIND_STRUCT | KIND_UNION | KIND_FUNC | KIND_FUNC_PROTO
                | KIND_VAR | KIND_DATASEC | KIND_DECL_TAG | KIND_TYPE_TAG => continue,
                k => return Err(format!("type [{id}]: unknown kind {k}")),
            };
            let new_id = new_id.unwrap_or(id);
            self.map[id as usize] = new_id;
            if new_id == id {
                self.cands.add(h, id);
            }
        }
        Ok(())
    }

    // -- struct/union pass --

    /// Pass 4: each struct/union is compared, by graph walk, with the canonical candidates of
    /// the same shape; the first equivalent one becomes its canonical type.
    fn dedup_struct_types(&mut self, ty: &Types) -> Result<(), String> {
        for id in ty.start_id..ty.count() {
            self.dedup_struct_type(ty, id)?;
        }
        Ok(())
    }

    fn dedup_struct_type(&mut self, ty: &Types, id: u32) -> Result<(), String> {
        if self.is_mapped(id) {
            // already mapped by an earlier walk
            return Ok(());
        }
        let t = ty.rec(id);
        if !matches!(kind(t), KIND_STRUCT | KIND_UNION) {
            return Ok(());
        }
        let h = hash_struct(t);
        let mut new_id = id;
        let mut cur = self.cands.first(h);
        while cur != NIL {
            let c = self.cands.id(cur);
            cur = self.cands.next(cur);
            // A FWD with a colliding hash is compatible with this struct in a walk; taking it
            // as canonical would link the FWD and the struct both ways.
            if !shallow_equal_struct(t, ty.rec(c)) {
                continue;
            }
            self.clear_hypot_map();
            if !self.is_equiv(ty, id, c)? {
                continue;
            }
            self.merge_hypot_map(ty);
            if self.hypot_adjust_canon {
                continue;
            }
            new_id = c;
            break;
        }
        self.map[id as usize] = new_id;
        if new_id == id {
            self.cands.add(h, id);
        }
        Ok(())
    }

    fn clear_hypot_map(&mut self) {
        for &id in &self.hypot_list {
            self.hypot_map[id as usize] = UNPROCESSED;
        }
        self.hypot_list.clear();
        self.hypot_adjust_canon = false;
    }

    /// Whether the type graph from `cand_id` is equivalent to the one from `canon_id`:
    /// a depth-first walk over both in step, visiting pairs in the same order as libbpf's
    /// recursive `btf_dedup_is_equiv`, so the hypothetical map ends up the same.
    fn is_equiv(&mut self, ty: &Types, cand_id: u32, canon_id: u32) -> Result<bool, String> {
        let mut walk = std::mem::take(&mut self.walk);
        walk.clear();
        walk.push((cand_id, canon_id));
        let mut result = Ok(true);
        while let Some((cand, canon)) = walk.pop() {
            match self.equiv_step(ty, cand, canon, &mut walk) {
                Ok(Step::Equal | Step::Descend) => {}
                Ok(Step::Differ) => {
                    result = Ok(false);
                    break;
                }
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        self.walk = walk;
        result
    }

    /// Compare one pair; for `Descend`, push the referenced pairs so that the first one is
    /// popped first.
    fn equiv_step(
        &mut self,
        ty: &Types,
        cand_id: u32,
        canon_id: u32,
        walk: &mut Vec<(u32, u32)>,
    ) -> Result<Step, String> {
        // both already map to the same canonical type
        if self.resolve(cand_id) == self.resolve(canon_id) {
            return Ok(Step::Equal);
        }
        let canon_id = self.resolve_fwd(ty, canon_id);
        let hypot = self.hypot_map[canon_id as usize];
        if hypot <= MAX_ID {
            // Seen before in this walk: a cycle if paired with the same candidate. Otherwise
            // accept exact twins: compilers sometimes emit identical arrays, structs or
            // pointers as separate types within one unit.
            let same = hypot == cand_id
                || self.identical_arrays(ty, hypot, cand_id)
                || self.identical_structs(ty, hypot, cand_id)
                || self.identical_ptrs(ty, hypot, cand_id);
            return Ok(if same { Step::Equal } else { Step::Differ });
        }
        self.hypot_map[canon_id as usize] = cand_id;
        self.hypot_list.push(canon_id);

        let ct = ty.rec(cand_id);
        let nt = ty.rec(canon_id);
        let (ck, nk) = (kind(ct), kind(nt));
        if ct[0] != nt[0] {
            return Ok(Step::Differ);
        }
        // FWD against STRUCT/UNION: equal when the FWD's kind matches
        if (ck == KIND_FWD || nk == KIND_FWD) && ck != nk {
            let (real_kind, fk) = if ck == KIND_FWD {
                (nk, fwd_kind(ct))
            } else {
                let fk = fwd_kind(nt);
                if fk == ck && canon_id < ty.start_id {
                    // would need the base FWD resolved to this split struct
                    self.hypot_adjust_canon = true;
                }
                (ck, fk)
            };
            return Ok(if fk == real_kind { Step::Equal } else { Step::Differ });
        }
        if ck != nk {
            return Ok(Step::Differ);
        }
        let eq = |b: bool| if b { Step::Equal } else { Step::Differ };
        match ck {
            KIND_INT => Ok(eq(equal_int_tag(ct, nt))),
            KIND_ENUM | KIND_ENUM64 => Ok(eq(compat_enum(ct, nt))),
            KIND_FWD | KIND_FLOAT => Ok(eq(equal_common(ct, nt))),
            KIND_CONST | KIND_VOLATILE | KIND_RESTRICT | KIND_PTR | KIND_TYPEDEF | KIND_FUNC
            | KIND_TYPE_TAG => {
                if ct[1] != nt[1] {
                    return Ok(Step::Differ);
                }
                walk.push((ct[2], nt[2]));
                Ok(Step::Descend)
            }
            KIND_ARRAY => {
                if !compat_array(ct, nt) {
                    return Ok(Step::Differ);
                }
                // index type first, then element type
                walk.push((ct[3], nt[3]));
                walk.push((ct[4], nt[4]));
                Ok(Step::Descend)
            }
            KIND_STRUCT | KIND_UNION => {
                if !shallow_equal_struct(ct, nt) {
                    return Ok(Step::Differ);
                }
                for (cm, nm) in ct[3..].chunks_exact(3).zip(nt[3..].chunks_exact(3)).rev() {
                    walk.push((cm[1], nm[1]));
                }
                Ok(Step::Descend)
            }
            KIND_FUNC_PROTO => {
                if !compat_fnproto(ct, nt) {
                    return Ok(Step::Differ);
                }
                for (cp, np) in ct[3..].chunks_exact(2).zip(nt[3..].chunks_exact(2)).rev() {
                    walk.push((cp[1], np[1]));
                }
                // return type first
                walk.push((ct[2], nt[2]));
                Ok(Step::Descend)
            }
            k => Err(format!("type [{cand_id}]: unexpected kind {k} in struct comparison")),
        }
    }

    fn identical_arrays(&self, ty: &Types, a: u32, b: u32) -> bool {
        let (ta, tb) = (ty.rec(a), ty.rec(b));
        kind(ta) == KIND_ARRAY && kind(tb) == KIND_ARRAY && equal_array(ta, tb)
    }

    /// Same struct/union down to member type ids, or members that are themselves identical
    /// arrays or structs.
    fn identical_structs(&self, ty: &Types, a: u32, b: u32) -> bool {
        let (ta, tb) = (ty.rec(a), ty.rec(b));
        if !matches!(kind(ta), KIND_STRUCT | KIND_UNION) || kind(ta) != kind(tb) {
            return false;
        }
        if !shallow_equal_struct(ta, tb) {
            return false;
        }
        ta[3..].chunks_exact(3).zip(tb[3..].chunks_exact(3)).all(|(ma, mb)| {
            ma[1] == mb[1]
                || self.identical_arrays(ty, ma[1], mb[1])
                || self.identical_structs(ty, ma[1], mb[1])
        })
    }

    fn identical_ptrs(&self, ty: &Types, a: u32, b: u32) -> bool {
        let (ta, tb) = (ty.rec(a), ty.rec(b));
        kind(ta) == KIND_PTR && kind(tb) == KIND_PTR && ta[2] == tb[2]
    }

    /// After a successful walk: record FWD resolutions it found, and map candidate structs
    /// to canonical ones that are final (a shortcut for later struct comparisons).
    fn merge_hypot_map(&mut self, ty: &Types) {
        for i in 0..self.hypot_list.len() {
            let canon = self.hypot_list[i];
            let targ = self.hypot_map[canon as usize];
            let t_id = self.resolve(targ);
            let c_id = self.resolve(canon);
            let tk = ty.kind(t_id);
            let ck = ty.kind(c_id);
            // Resolve a canonical FWD to the candidate struct, even a base FWD: FWDs of split
            // BTF resolve through it.
            if tk != KIND_FWD && ck == KIND_FWD {
                self.map[c_id as usize] = t_id;
            }
            if self.hypot_adjust_canon {
                continue;
            }
            if tk == KIND_FWD && ck != KIND_FWD {
                self.map[t_id as usize] = c_id;
            }
            if matches!(tk, KIND_STRUCT | KIND_UNION)
                && ck != KIND_FWD
                && self.is_mapped(c_id)
                && !self.is_mapped(t_id)
            {
                self.map[t_id as usize] = c_id;
            }
        }
    }

    // -- FWD resolution pass --

    /// Pass 5: map each canonical FWD still unresolved to the one canonical struct/union of
    /// its name and kind, if the name is unique among them (base types included).
    fn resolve_fwds(&mut self, ty: &Types) {
        // name -> the canonical struct/union of that name, or 0 when there are several
        let mut names: HashMap<u32, u32, MixBuild> = HashMap::with_hasher(MixBuild);
        for id in 1..ty.count() {
            let t = ty.rec(id);
            if !matches!(kind(t), KIND_STRUCT | KIND_UNION) || self.map[id as usize] != id {
                continue;
            }
            names.entry(t[0]).and_modify(|v| *v = 0).or_insert(id);
        }
        for id in ty.start_id..ty.count() {
            let t = ty.rec(id);
            if kind(t) != KIND_FWD || self.map[id as usize] != id {
                continue;
            }
            let Some(&cand) = names.get(&t[0]) else { continue };
            if cand == 0 {
                continue;
            }
            if ty.kind(cand) == fwd_kind(t) {
                self.map[id as usize] = cand;
            }
        }
    }

    // -- reference types pass --

    /// Pass 6: resolve each reference type's referenced ids to canonical ones (depth first,
    /// rewriting the record), then dedup it by exact equality.
    fn dedup_ref_types(&mut self, ty: &mut Types) -> Result<(), String> {
        let mut frames: Vec<(u32, u32)> = Vec::new();
        for id in ty.start_id..ty.count() {
            self.dedup_ref_type(ty, id, &mut frames)?;
        }
        Ok(())
    }

    /// Start on `id`: its canonical id if known, or None after marking it in progress.
    fn ref_enter(&mut self, ty: &Types, id: u32) -> Result<Option<u32>, String> {
        let m = self.map[id as usize];
        if m == IN_PROGRESS {
            return Err(format!("type [{id}]: reference cycle not through a struct or union"));
        }
        if m <= MAX_ID {
            return Ok(Some(self.resolve(id)));
        }
        match ty.kind(id) {
            KIND_CONST | KIND_VOLATILE | KIND_RESTRICT | KIND_PTR | KIND_TYPEDEF | KIND_FUNC
            | KIND_TYPE_TAG | KIND_DECL_TAG | KIND_ARRAY | KIND_FUNC_PROTO => {}
            k => return Err(format!("type [{id}]: unexpected kind {k} in reference types")),
        }
        self.map[id as usize] = IN_PROGRESS;
        Ok(None)
    }

    /// The explicit-stack form of libbpf's recursive `btf_dedup_ref_type`: `frames` holds
    /// (type, index of the next reference to resolve).
    fn dedup_ref_type(
        &mut self,
        ty: &mut Types,
        root: u32,
        frames: &mut Vec<(u32, u32)>,
    ) -> Result<(), String> {
        if self.ref_enter(ty, root)?.is_some() {
            return Ok(());
        }
        frames.clear();
        frames.push((root, 0));
        while let Some(&(id, k)) = frames.last() {
            let off = ty.off(id);
            if let Some(slot) = ref_slot(ty.rec(id), k) {
                let child = ty.words[off + slot];
                match self.ref_enter(ty, child)? {
                    Some(c) => {
                        ty.words[off + slot] = c;
                        frames.last_mut().expect("frame").1 += 1;
                    }
                    None => frames.push((child, 0)),
                }
                continue;
            }
            let new_id = self.finish_ref_type(ty, id);
            frames.pop();
            if let Some(parent) = frames.last_mut() {
                let poff = ty.off(parent.0);
                let slot = ref_slot(ty.rec(parent.0), parent.1).expect("slot being resolved");
                ty.words[poff + slot] = new_id;
                parent.1 += 1;
            }
        }
        Ok(())
    }

    /// With all references of `id` canonical: find an equal canonical type or become one.
    fn finish_ref_type(&mut self, ty: &Types, id: u32) -> u32 {
        let t = ty.rec(id);
        let (h, found) = match kind(t) {
            KIND_DECL_TAG => {
                let h = hash_int_tag(t);
                (h, self.cands.find(h, |c| equal_int_tag(t, ty.rec(c))))
            }
            KIND_ARRAY => {
                let h = hash_array(t);
                (h, self.cands.find(h, |c| equal_array(t, ty.rec(c))))
            }
            KIND_FUNC_PROTO => {
                let h = hash_fnproto(t);
                (h, self.cands.find(h, |c| equal_fnproto(t, ty.rec(c))))
            }
            _ => {
                let h = hash_common(t);
                (h, self.cands.find(h, |c| equal_common(t, ty.rec(c))))
            }
        };
        let new_id = found.unwrap_or(id);
        self.map[id as usize] = new_id;
        if new_id == id {
            self.cands.add(h, id);
        }
        new_id
    }

    // -- output --

    /// Pass 7: move canonical types together; `hypot_map` becomes old id -> new id.
    fn compact_types(&mut self, ty: &mut Types) {
        let remap = &mut self.hypot_map;
        for (id, r) in remap.iter_mut().enumerate().take(ty.start_id as usize) {
            *r = id as u32;
        }
        remap[ty.start_id as usize..].fill(UNPROCESSED);
        let n = ty.offs.len();
        let mut next_id = ty.start_id;
        let mut w = 0usize;
        for i in 0..n {
            let id = ty.start_id + i as u32;
            if self.map[id as usize] != id {
                continue;
            }
            let start = ty.offs[i] as usize;
            let end = ty.offs.get(i + 1).map_or(ty.words.len(), |&o| o as usize);
            ty.words.copy_within(start..end, w);
            ty.offs[(next_id - ty.start_id) as usize] = w as u32;
            remap[id as usize] = next_id;
            next_id += 1;
            w += end - start;
        }
        ty.words.truncate(w);
        ty.words.shrink_to_fit();
        ty.offs.truncate((next_id - ty.start_id) as usize);
        ty.offs.shrink_to_fit();
    }

    /// Pass 8: every type reference to the new id of its canonical type.
    fn remap_types(&mut self, ty: &mut Types) -> Result<(), String> {
        let mut slots: Vec<usize> = Vec::new();
        for i in 0..ty.offs.len() {
            let off = ty.offs[i] as usize;
            slots.clear();
            for_each_id_slot(ty.rec(ty.start_id + i as u32), |p| slots.push(p));
            for &p in &slots {
                let new_id = self.hypot_map[self.resolve(ty.words[off + p]) as usize];
                if new_id > MAX_ID {
                    return Err(format!(
                        "type [{}]: reference to type {} that has no canonical type",
                        ty.start_id + i as u32,
                        ty.words[off + p]
                    ));
                }
                ty.words[off + p] = new_id;
            }
        }
        Ok(())
    }
}

/// Position in record `t` of the `k`-th reference that the reference-type pass resolves, in
/// libbpf's order (array: element type, then index type; prototype: return type, then
/// parameters); None after the last.
#[inline]
fn ref_slot(t: &[u32], k: u32) -> Option<usize> {
    let k = k as usize;
    match kind(t) {
        KIND_ARRAY => [3usize, 4].get(k).copied(),
        KIND_FUNC_PROTO => (k <= vlen(t)).then_some(2 + 2 * k),
        _ => (k == 0).then_some(2),
    }
}

/// Pass 2: rebuild the string table from the strings the types refer to, in order of first
/// reference; strings that the base holds are referred to there.
/// Call `f` on every string offset word of the own types, in type order; `f` may rewrite it.
fn for_each_str_word(ty: &mut Types, mut f: impl FnMut(&mut u32)) {
    let mut slots: Vec<usize> = Vec::new();
    for i in 0..ty.offs.len() {
        let off = ty.offs[i] as usize;
        slots.clear();
        for_each_str_slot(ty.rec(ty.start_id + i as u32), |p| slots.push(p));
        for &p in &slots {
            f(&mut ty.words[off + p]);
        }
    }
}

fn dedup_strings(ty: &mut Types, strings: &mut StrTab) -> Result<(), String> {
    let start = strings.start;
    let old = std::mem::replace(strings, StrTab::new(start));
    let mut remap = vec![u32::MAX; old.data.len()];
    if ty.base.is_none() {
        // one pass: a string gets its new offset where it is first referenced
        for_each_str_word(ty, |w| {
            if *w != 0 {
                let r = &mut remap[*w as usize];
                if *r == u32::MAX {
                    *r = strings.add(old.get(*w));
                }
                *w = *r;
            }
        });
        return Ok(());
    }
    // the strings in use, in order of first reference, and which of them the base holds (one
    // pass over the base's strings rather than an index of all of them)
    let mut used: Vec<u32> = Vec::new();
    for_each_str_word(ty, |w| {
        let s = *w;
        if s != 0 && s >= start && remap[(s - start) as usize] == u32::MAX {
            remap[(s - start) as usize] = 0;
            used.push(s);
        }
    });
    let in_base = match ty.base {
        Some(b) => b.strings.find_many(&used.iter().map(|&s| old.get(s)).collect::<Vec<_>>()),
        None => vec![None; used.len()],
    };
    for (&s, b) in used.iter().zip(in_base) {
        remap[(s - start) as usize] = match b {
            Some(b) => b,
            None => strings.add(old.get(s)),
        };
    }
    for_each_str_word(ty, |w| {
        if *w != 0 && *w >= start {
            *w = remap[(*w - start) as usize];
        }
    });
    Ok(())
}
