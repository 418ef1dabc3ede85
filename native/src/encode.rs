//! Encoding a whole ELF file: DWARF in, raw BTF out.
//!
//! 1. map the file, read (decompress, relocate) the debug sections;
//! 2. convert every compile unit to CU-local BTF, in parallel;
//! 3. meanwhile merge the converted CUs, in section order, into one BTF (ids and strings
//!    remapped) and free each CU's own tables, then resolve cross-CU references. Memory holds
//!    the merged BTF and the few CUs in flight, and the pages of `.debug_info` already read
//!    are handed back (`Release`), so the peak stays well under the sum of all CUs;
//! 4. choose the functions and variables that get FUNC/VAR (pahole's rules, `select.rs`);
//! 5. deduplicate; write.
//!
//! Every step is deterministic: CUs are merged in their order in `.debug_info` whatever the
//! number of threads, and no hash depends on a random seed.

use crate::btf::*;
use crate::convert::{CuConverter, CuTypes, Options, R};
use crate::elf::Elf;
use object::Object;
use crate::select::{ElfFunctions, SkipReason, PERCPU_SECTION};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;

pub struct EncodeStats {
    pub cus: usize,
    pub cus_skipped: usize,
    pub types_before_dedup: usize,
    /// for each name asked about (`btfbuild encode --explain`), why it has BTF or not
    pub explanations: Vec<String>,
    /// function names by outcome: (what happened, how many names)
    pub functions: Vec<(&'static str, usize)>,
}

/// The names to explain, and what was found out about them: per compile unit, then verdicts.
#[derive(Default)]
pub struct Explain {
    names: HashSet<Vec<u8>>,
    /// name -> (compile unit or None, finding), in the order found
    lines: BTreeMap<Vec<u8>, Vec<(Option<String>, String)>>,
}

impl Explain {
    pub fn new(names: &[Vec<u8>]) -> Self {
        Explain { names: names.iter().cloned().collect(), lines: BTreeMap::new() }
    }

    #[inline]
    fn wants(&self, name: &[u8]) -> bool {
        !self.names.is_empty() && self.names.contains(name)
    }

    fn note(&mut self, name: &[u8], line: String) {
        self.lines.entry(name.to_vec()).or_default().push((None, line));
    }

    /// A finding about the definition of `name` in compile unit `cu`.
    fn note_cu(&mut self, name: &[u8], cu: &[u8], line: String) {
        let cu = String::from_utf8_lossy(cu).into_owned();
        self.lines.entry(name.to_vec()).or_default().push((Some(cu), line));
    }

    /// One block per name, in the order asked; equal findings of several compile units are
    /// one line naming the first few.
    fn report(mut self, asked: &[Vec<u8>]) -> Vec<String> {
        let mut out = Vec::new();
        for name in asked {
            let shown = String::from_utf8_lossy(name);
            let Some(lines) = self.lines.remove(name) else {
                out.push(format!(
                    "{shown}: no BTF: no function definition or variable of that name in the \
                     DWARF (declarations only, inlined everywhere, or a macro?)"
                ));
                continue;
            };
            out.push(format!("{shown}:"));
            let mut groups: Vec<(String, Vec<String>)> = Vec::new();
            for (cu, line) in lines {
                match cu {
                    None => groups.push((line, Vec::new())),
                    Some(cu) => match groups.iter_mut().find(|(l, cus)| *l == line && !cus.is_empty()) {
                        Some((_, cus)) => cus.push(cu),
                        None => groups.push((line, vec![cu])),
                    },
                }
            }
            for (line, cus) in groups {
                out.push(match cus.len() {
                    0 => format!("  {line}"),
                    1 => format!("  in {}: {line}", cus[0]),
                    n if n <= 3 => format!("  in {}: {line}", cus.join(", ")),
                    n => format!("  in {n} compile units ({}, ... {}): {line}", cus[..2].join(", "),
                                 cus[n - 1]),
                });
            }
        }
        out
    }
}

pub struct Encoded {
    pub btf: Btf,
    /// With `distill`: the distilled base `btf` is now split over (the `.BTF.base` section).
    pub distilled_base: Option<Btf>,
    pub big_endian: bool,
    pub stats: EncodeStats,
}

/// With `BTFBUILD_TIMING` set: time since `t0` and the memory in use at a step, on stderr.
pub fn timing_note(step: &str, t0: std::time::Instant) {
    if std::env::var_os("BTFBUILD_TIMING").is_none() {
        return;
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |key: &str| {
        status.lines().find(|l| l.starts_with(key)).map_or("?", |l| l[key.len()..].trim())
    };
    eprintln!(
        "timing: {step} {:?} (rss {}, anon {}, file {}, peak {})",
        t0.elapsed(),
        field("VmRSS:"),
        field("RssAnon:"),
        field("RssFile:"),
        field("VmHWM:")
    );
}

/// DWARF numbers of the registers carrying the first integer arguments (pahole's table for
/// the architectures the kernel builds BTF on); parameters past these go on the stack.
fn register_params(arch: object::Architecture) -> Vec<u16> {
    use object::Architecture as A;
    match arch {
        A::X86_64 => vec![5, 4, 1, 2, 8, 9], // rdi rsi rdx rcx r8 r9
        A::Aarch64 => (0..8).collect(),       // x0-x7
        A::S390x => (2..7).collect(),         // r2-r6
        A::Riscv64 => (10..18).collect(),     // a0-a7
        A::PowerPc64 => (3..11).collect(),    // r3-r10
        A::Arm => (0..4).collect(),           // r0-r3
        _ => Vec::new(),
    }
}

fn load_dwarf<'a>(elf: &'a Elf<'_>) -> Result<gimli::Dwarf<R<'a>>, String> {
    let endian = if elf.big_endian { gimli::RunTimeEndian::Big } else { gimli::RunTimeEndian::Little };
    let load = |id: gimli::SectionId| -> Result<R<'a>, gimli::Error> {
        Ok(gimli::EndianSlice::new(elf.section_data(id.name()), endian))
    };
    gimli::Dwarf::load(load).map_err(|e| format!("cannot load DWARF: {e}"))
}

/// Encode the DWARF of the ELF file `data`. With `base` (a standalone BTF, e.g. vmlinux's) the
/// result is split BTF over it, as pahole's `--btf_base`: ids and string offsets continue after
/// the base's, and types equal to base types are not repeated.
///
/// With `distill` and a base, the result is then distilled (`crate::distill`).
///
/// `kfuncs` lists the kfuncs of the file's `.BTF_ids` kfunc sets with their KF_* flags (see
/// [`KfuncTags`]); empty unless `decl_tag_kfuncs` is asked for.
#[allow(clippy::too_many_arguments)] // the options of one call, passed through from Python
pub fn encode(
    data: &[u8],
    opts: &Options,
    threads: usize,
    base: Option<&Btf>,
    distill: bool,
    kfuncs: &[(Vec<u8>, u32)],
    explain: &[Vec<u8>],
    release: Release<'_>,
) -> Result<Encoded, String> {
    let t0 = std::time::Instant::now();
    if let Some(b) = base {
        crate::dedup::check(b, None).map_err(|e| format!("base BTF: {e}"))?;
    }
    timing_note("base checked", t0);
    let elf = Elf::parse(data)?;
    if elf.section_data(".debug_info").is_empty() {
        return Err("no DWARF debug info (.debug_info is missing or empty)".into());
    }
    let mut opts = opts.clone();
    opts.register_params = register_params(elf.file.architecture());
    let (btf, stats) = convert_and_merge(&elf, &opts, threads, base, kfuncs, explain, release)?;
    match base {
        Some(b) if distill => {
            let (new_base, split) = crate::distill::distill(&btf, b)
                .map_err(|e| format!("cannot distill the base: {e}"))?;
            Ok(Encoded { btf: split, distilled_base: Some(new_base), big_endian: elf.big_endian, stats })
        }
        _ => Ok(Encoded { btf, distilled_base: None, big_endian: elf.big_endian, stats }),
    }
}

fn convert_and_merge<'a>(
    elf: &'a Elf<'_>,
    opts: &Options,
    threads: usize,
    base: Option<&Btf>,
    kfuncs: &[(Vec<u8>, u32)],
    explain: &[Vec<u8>],
    release: Release<'_>,
) -> Result<(Btf, EncodeStats), String> {
    let t0 = std::time::Instant::now();
    let dwarf = load_dwarf(elf)?;
    let mut headers = Vec::new();
    let mut it = dwarf.units();
    loop {
        match it.next() {
            Ok(Some(h)) => headers.push(h),
            Ok(None) => break,
            Err(e) => return Err(format!("corrupt .debug_info unit header: {e}")),
        }
    }
    let convert = |h: &gimli::UnitHeader<R<'a>>| -> Result<CuTypes<'a>, String> {
        let off = h.offset().as_debug_info_offset().map_or(0, |o| o.0);
        let unit = dwarf.unit(*h).map_err(|e| format!("CU at .debug_info+{off:#x}: {e}"))?;
        if unit.header.type_() != gimli::UnitType::Compilation
            && !matches!(unit.header.type_(), gimli::UnitType::Partial | gimli::UnitType::Skeleton(_))
        {
            return Ok(CuTypes::empty());
        }
        CuConverter::new(&dwarf, &unit, opts)
            .run()
            .map_err(|e| format!("CU at .debug_info+{off:#x}: {e}"))
    };
    let cross_unit = may_refer_across_units(elf.section_data(".debug_abbrev"));
    let mut merger = Merger::new(base, cross_unit);
    let mut cus: Vec<CuTypes<'a>> = Vec::with_capacity(headers.len());
    let mut info_pages = elf.file_offset(".debug_info").map(|off| PageRelease::new(off, release));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .build()
        .map_err(|e| format!("cannot start worker threads: {e}"))?;
    // The workers convert CUs in the order of a shared counter and send them here; this thread
    // merges them in section order as they arrive and frees each one's types. So only the
    // merged BTF and a few CUs in flight are in memory, never all CUs' own tables at once.
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let (tx, rx) = mpsc::channel::<(usize, Result<CuTypes<'a>, String>)>();
    pool.in_place_scope(|scope| -> Result<(), String> {
        for _ in 0..threads.max(1) {
            let (tx, next, stop, convert, headers) = (tx.clone(), &next, &stop, &convert, &headers);
            scope.spawn(move |_| {
                while !stop.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(h) = headers.get(i) else { break };
                    let cu = convert(h);
                    let failed = cu.is_err();
                    if tx.send((i, cu)).is_err() || failed {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let mut early: BTreeMap<usize, Result<CuTypes<'a>, String>> = BTreeMap::new();
        let merge_in_order = || -> Result<(), String> {
            for (i, cu) in rx {
                early.insert(i, cu);
                while let Some(cu) = early.remove(&cus.len()) {
                    let mut cu = cu?;
                    merger.add(&mut cu)?;
                    cus.push(cu);
                    if let (Some(pages), Some(next)) = (&mut info_pages, headers.get(cus.len())) {
                        pages.done_up_to(next.offset().as_debug_info_offset().map_or(0, |o| o.0));
                    }
                }
            }
            Ok(())
        };
        let merged = merge_in_order();
        if merged.is_err() {
            stop.store(true, Ordering::Relaxed);
        }
        merged
    })?;
    if cus.len() != headers.len() {
        return Err("a worker thread stopped before converting every compile unit".into());
    }
    // the DWARF has been read: the file's pages are not needed again, but for the symbol table
    // and a few strings, which fault back in when read
    release(0, elf.data.len());
    timing_note("converted and merged", t0);
    let mut stats = EncodeStats {
        cus: cus.len(),
        cus_skipped: merger.skipped,
        types_before_dedup: merger.types,
        explanations: Vec::new(),
        functions: Vec::new(),
    };
    let mut why = Explain::new(explain);
    let (mut btf, places, die_map) = merger.finish()?;
    timing_note("cross-unit references resolved", t0);
    let symbols = elf.symbols();
    let elf_funcs = ElfFunctions::new(&symbols);
    timing_note("symbols read", t0);
    let funcs = add_function_candidates(
        &mut btf,
        &cus,
        &places,
        &die_map,
        &elf_funcs,
        opts.optimized_func,
        &mut why,
    );
    if opts.vars {
        let sections = crate::elf::section_infos(elf.data)?;
        let ptr_size = if elf.file.is_64() { 8 } else { 4 };
        let ctx = VarContext {
            sections: &sections,
            symbols: &symbols,
            relocatable: elf.relocatable,
            ptr_size,
            percpu_only: !opts.global_vars,
        };
        add_vars(&mut btf, &cus, &places, &die_map, &ctx, &mut why);
    } else {
        for v in cus.iter().flat_map(|c| &c.vars) {
            if why.wants(v.name) {
                why.note(v.name, "variable: no BTF: variables are not encoded (feature var off)".into());
            }
        }
    }
    drop(die_map);
    timing_note("functions and variables chosen", t0);
    let remap = crate::dedup::dedup_built(&mut btf, base)?;
    timing_note("deduplicated", t0);
    let kfunc_tags = KfuncTags::new(kfuncs, &elf_funcs);
    stats.functions = add_functions(&mut btf, base, &funcs, &remap, opts, &kfunc_tags, &mut why);
    timing_note("functions added", t0);
    let candidate_protos: Vec<u32> =
        funcs.iter().filter(|f| f.skip.is_none()).map(|f| remap[f.proto as usize]).collect();
    drop_unused_protos(&mut btf, &candidate_protos);
    timing_note("unused prototypes dropped", t0);
    stats.explanations = why.report(explain);
    Ok((btf, stats))
}

/// Tells the input file's mapping that a byte range (file offsets) will not be read again
/// soon, so its pages leave this process's memory; reading them later is still correct.
pub type Release<'r> = &'r (dyn Fn(usize, usize) + Sync);

/// Gives back the pages of `.debug_info` behind the CUs already merged, a block at a time.
struct PageRelease<'r> {
    /// file offset of `.debug_info`, and how far into it pages were given back
    file_off: usize,
    done: usize,
    release: Release<'r>,
}

impl<'r> PageRelease<'r> {
    /// Blocks smaller than this are not worth a system call.
    const BLOCK: usize = 8 << 20;

    fn new(file_off: usize, release: Release<'r>) -> Self {
        PageRelease { file_off, done: 0, release }
    }

    /// Every CU before section offset `end` is merged.
    fn done_up_to(&mut self, end: usize) {
        if end >= self.done + Self::BLOCK {
            (self.release)(self.file_off + self.done, end - self.done);
            self.done = end;
        }
    }
}

/// Whether some abbreviation in `.debug_abbrev` has a form that can refer to a DIE of another
/// unit (DW_FORM_ref_addr, the GNU alt-file reference, or DW_FORM_indirect, which may be any
/// form). Only then must the merge keep every CU's DIE map to resolve such references; gcc's
/// and clang's non-LTO kernels have none. Unreadable abbreviations count as "may".
fn may_refer_across_units(abbrev: &[u8]) -> bool {
    const REF_ADDR: u64 = 0x10;
    const INDIRECT: u64 = 0x16;
    const IMPLICIT_CONST: u64 = 0x21;
    const GNU_REF_ALT: u64 = 0x1f20;
    fn uleb(data: &[u8], pos: &mut usize) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *data.get(*pos)?;
            *pos += 1;
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }
    let scan = || -> Option<bool> {
        let mut pos = 0usize;
        while pos < abbrev.len() {
            if uleb(abbrev, &mut pos)? == 0 {
                continue; // end of a table (or padding between tables)
            }
            uleb(abbrev, &mut pos)?; // tag
            pos += 1; // has-children flag
            loop {
                let (attr, form) = (uleb(abbrev, &mut pos)?, uleb(abbrev, &mut pos)?);
                match form {
                    0 if attr == 0 => break,
                    REF_ADDR | INDIRECT | GNU_REF_ALT => return Some(true),
                    IMPLICIT_CONST => {
                        uleb(abbrev, &mut pos)?; // the constant (SLEB128: same length rules)
                    }
                    _ => {}
                }
            }
        }
        Some(false)
    };
    scan().unwrap_or(true)
}

/// DIE offset -> merged type id, sorted by offset.
type DieMap = Vec<(u64, u32)>;

/// The merged type id of the DIE at `die`, looked up in a [`DieMap`].
fn die_type(die_map: &[(u64, u32)], die: u64) -> Option<u32> {
    die_map.binary_search_by_key(&die, |&(d, _)| d).ok().map(|i| die_map[i].1)
}

/// Where one CU's types and strings landed in the merged BTF.
struct CuPlacement {
    base: u32,
}

/// Concatenates the CUs' types, in section order, into one BTF: CU-local id `l` of a CU
/// becomes `base + l`, names move into the shared string table, and each CU's own tables are
/// freed once copied (its function candidates' names move into the shared string table then).
struct Merger {
    out: Btf,
    places: Vec<CuPlacement>,
    /// DIE offset -> merged id of all CUs' types, when a unit may refer into another
    die_map: DieMap,
    keep_die_maps: bool,
    /// (merged word, DIE offset): references into other CUs, resolved by `finish`
    externals: Vec<(usize, u64)>,
    /// Array index type of the CUs without an `int`, as pahole 1.30 picks it: the first CU's
    /// `int` merged so far; if there is none yet when a CU needs one, a signed 32-bit `int`
    /// goes in right after that CU's types (dedup folds it into any later CU's `int`).
    index_type: Option<u32>,
    types: usize,
    skipped: usize,
}

impl Merger {
    fn new(base: Option<&Btf>, keep_die_maps: bool) -> Self {
        let out = match base {
            Some(b) => Btf::new(b.type_count(), b.strings.data.len() as u32),
            None => Btf::new(1, 0),
        };
        Merger {
            out,
            places: Vec::new(),
            die_map: Vec::new(),
            keep_die_maps,
            externals: Vec::new(),
            index_type: None,
            types: 0,
            skipped: 0,
        }
    }

    /// Append the next CU's types; its type tables are emptied.
    fn add(&mut self, cu: &mut CuTypes<'_>) -> Result<(), String> {
        let out = &mut self.out;
        let base = out.type_count() - 1;
        let words_base = out.words.len();
        self.types += cu.btf.offs.len();
        self.skipped += usize::from(cu.skipped);
        let strmap = string_remap(&cu.btf.strings, &mut out.strings);
        for i in 0..cu.btf.offs.len() {
            let rec = cu.btf.record(i as u32 + 1);
            out.offs.push(out.words.len() as u32);
            let start = out.words.len();
            out.words.extend_from_slice(rec);
            remap_record(&mut out.words[start..], |n| strmap[n as usize], |t| if t == 0 { 0 } else { t + base });
        }
        if self.index_type.is_none() {
            self.index_type = cu.int_id.map(|local| local + base);
        }
        if !cu.index_words.is_empty() {
            let id = match self.index_type {
                Some(id) => id,
                None => {
                    let id = out.add_int(b"int", 4, INT_SIGNED, 32);
                    self.index_type = Some(id);
                    id
                }
            };
            cu.index_words.iter().for_each(|&w| out.words[words_base + w as usize] = id);
        }
        for f in &mut cu.funcs {
            remap_record(&mut f.proto, |n| strmap[n as usize], |t| t);
        }
        // externals were written as 0 and shifted to `base`; `finish` patches them
        for &(w, die) in &cu.externals {
            if !self.keep_die_maps {
                // no form can leave the unit: the DIE is in this CU and is not a type
                return Err(not_a_type(die));
            }
            self.externals.push((words_base + w as usize, die));
        }
        if self.keep_die_maps {
            self.die_map.extend(cu.die_map.iter().map(|&(d, l)| (d, l + base)));
        }
        cu.btf = Btf::new(1, 0);
        cu.index_words = Vec::new();
        cu.die_map = Vec::new();
        cu.externals = Vec::new();
        self.places.push(CuPlacement { base });
        Ok(())
    }

    /// The merged BTF with cross-CU references resolved, each CU's placement and the DIE map
    /// (empty unless some unit may refer into another).
    fn finish(mut self) -> Result<(Btf, Vec<CuPlacement>, DieMap), String> {
        self.die_map.sort_unstable();
        for &(w, die) in &self.externals {
            self.out.words[w] = die_type(&self.die_map, die).ok_or_else(|| not_a_type(die))?;
        }
        Ok((self.out, self.places, self.die_map))
    }
}

fn not_a_type(die: u64) -> String {
    format!("reference to DIE at .debug_info+{die:#x}, which is not a type")
}

/// Offsets of a CU's strings in the merged table, indexed by the CU-local offset.
fn string_remap(local: &StrTab, global: &mut StrTab) -> Vec<u32> {
    let mut map = vec![0u32; local.data.len() + 1];
    let mut pos = 0usize;
    while pos < local.data.len() {
        let end = local.data[pos..].iter().position(|&b| b == 0).map_or(local.data.len(), |e| pos + e);
        map[pos] = global.add(&local.data[pos..end]);
        pos = end + 1;
    }
    map
}

/// Rewrite the name offsets and type ids of one record in place.
pub fn remap_record(rec: &mut [u32], mut name: impl FnMut(u32) -> u32, mut ty: impl FnMut(u32) -> u32) {
    let info = rec[1];
    let vlen = info_vlen(info) as usize;
    rec[0] = name(rec[0]);
    match info_kind(info) {
        KIND_PTR | KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT | KIND_FUNC
        | KIND_VAR | KIND_DECL_TAG | KIND_TYPE_TAG => rec[2] = ty(rec[2]),
        KIND_ARRAY => {
            rec[3] = ty(rec[3]);
            rec[4] = ty(rec[4]);
        }
        KIND_STRUCT | KIND_UNION => {
            for m in 0..vlen {
                rec[3 + 3 * m] = name(rec[3 + 3 * m]);
                rec[4 + 3 * m] = ty(rec[4 + 3 * m]);
            }
        }
        KIND_ENUM => {
            for m in 0..vlen {
                rec[3 + 2 * m] = name(rec[3 + 2 * m]);
            }
        }
        KIND_ENUM64 => {
            for m in 0..vlen {
                rec[3 + 3 * m] = name(rec[3 + 3 * m]);
            }
        }
        KIND_FUNC_PROTO => {
            rec[2] = ty(rec[2]);
            for m in 0..vlen {
                rec[3 + 2 * m] = name(rec[3 + 2 * m]);
                rec[4 + 2 * m] = ty(rec[4 + 2 * m]);
            }
        }
        KIND_DATASEC => {
            for m in 0..vlen {
                rec[3 + 3 * m] = ty(rec[3 + 3 * m]);
            }
        }
        _ => {}
    }
}

/// Resolve a CU-local reference the way `merge` did: void stays 0, local ids shift by the CU's
/// base, and a DIE outside the CU is looked up in the global map.
fn global_ref(place: &CuPlacement, local: u32) -> u32 {
    if local == 0 { 0 } else { local + place.base }
}

/// A function candidate placed in the merged BTF: its name and the id of its FUNC_PROTO.
pub struct PlacedFunc {
    pub name: Vec<u8>,
    pub proto: u32,
    pub skip: Option<SkipReason>,
    pub decl_tags: Vec<(Vec<u8>, i32)>,
    pub optimized: bool,
    pub unexpected_reg: bool,
}

/// Append a FUNC_PROTO for every candidate that passes the per-CU rules (dedup merges equal
/// ones); the per-name decision needs the deduplicated ids, so FUNCs come after dedup.
fn add_function_candidates(
    btf: &mut Btf,
    cus: &[CuTypes<'_>],
    places: &[CuPlacement],
    die_map: &[(u64, u32)],
    elf_funcs: &ElfFunctions<'_>,
    optimized_func: bool,
    why: &mut Explain,
) -> Vec<PlacedFunc> {
    let mut out = Vec::new();
    for (cu, place) in cus.iter().zip(places) {
        for f in &cu.funcs {
            let mut skip = elf_funcs.check(f.name, optimized_func).err();
            if skip.is_none() && !f.all_params_named {
                skip = Some(SkipReason::UnnamedParams);
            }
            let mut proto = 0;
            if skip.is_none() {
                let mut rec = f.proto.clone();
                remap_record(&mut rec, |n| n, |t| global_ref(place, t)); // names: done in `merge`
                // what is left to fix up lies in other CUs
                for &(w, die) in &f.proto_fixups {
                    match die_type(die_map, die) {
                        Some(id) => rec[w as usize] = id,
                        None => skip = Some(SkipReason::CrossUnitType),
                    }
                }
                if skip.is_none() {
                    proto = btf.push_record(&rec);
                }
            }
            let decl_tags = if skip.is_none() {
                f.decl_tags.iter().map(|&(t, i)| (t.to_vec(), i)).collect()
            } else {
                Vec::new()
            };
            if why.wants(f.name) {
                let line = match skip {
                    Some(r) => format!("function definition: not a candidate: {}", r.describe()),
                    None if f.unexpected_reg => "function definition: a parameter is not where \
                        the calling convention puts it (the compiler changed its ABI)".into(),
                    None if f.optimized => {
                        "function definition: candidate, with parameters optimized out".into()
                    }
                    None => "function definition: candidate".into(),
                };
                why.note_cu(f.name, cu.name, line);
            }
            out.push(PlacedFunc {
                name: f.name.to_vec(),
                proto,
                skip,
                decl_tags,
                optimized: f.optimized,
                unexpected_reg: f.unexpected_reg,
            });
        }
    }
    out
}

/// pahole 1.30's `decl_tag_kfuncs` (`btf_encoder__collect_kfuncs`, `btf__tag_kfunc`):
///
/// - the kfuncs are the `__BTF_ID__func__<name>__<n>` symbols of `.BTF_ids` that lie in a set8
///   whose set-level flags have `BTF_SET8_KFUNCS`, each with the flags word of its pair (read on
///   the Python side, `btfbuild/kfuncs.py`; a name in several sets keeps its last flags);
/// - pahole marks the ELF function of exactly that name (not the prefix of a `.isra`/`.constprop`
///   copy), so only a FUNC backed by an `STT_FUNC` symbol of the very name is tagged; a kfunc
///   that gets no FUNC gets no tag, silently;
/// - right after that FUNC, before its own DWARF decl tags: `DECL_TAG bpf_kfunc`, then
///   `DECL_TAG bpf_fastcall` if the flags have `KF_FASTCALL`, both with component_idx -1.
///   pahole adds them before dedup, which would fold a DWARF tag equal to one of them (a
///   source-level `btf_decl_tag("bpf_kfunc")`), so a FUNC gets each (tag, idx) once.
///
/// The tags need `decl_tag` too; the Python side passes no kfuncs without it.
pub struct KfuncTags<'a> {
    flags: HashMap<&'a [u8], u32>,
}

const KF_FASTCALL: u32 = 1 << 12;
const BPF_KFUNC_TAG: &[u8] = b"bpf_kfunc";
const BPF_FASTCALL_TAG: &[u8] = b"bpf_fastcall";

impl<'a> KfuncTags<'a> {
    pub fn new(kfuncs: &'a [(Vec<u8>, u32)], elf_funcs: &ElfFunctions<'_>) -> Self {
        let mut flags = HashMap::new();
        for (name, f) in kfuncs {
            if elf_funcs.has_exact(name) {
                flags.insert(name.as_slice(), *f);
            }
        }
        KfuncTags { flags }
    }

    /// The decl tags pahole puts on the FUNC `name` before its DWARF ones.
    fn tags(&self, name: &[u8]) -> Vec<(Vec<u8>, i32)> {
        let Some(&flags) = self.flags.get(name) else { return Vec::new() };
        let mut out = vec![(BPF_KFUNC_TAG.to_vec(), -1)];
        if flags & KF_FASTCALL != 0 {
            out.push((BPF_FASTCALL_TAG.to_vec(), -1));
        }
        out
    }
}

/// FUNCs for the surviving names, sorted by name; a name whose candidates deduplicated to
/// different prototypes is inconsistent.
fn add_functions(
    btf: &mut Btf,
    base: Option<&Btf>,
    funcs: &[PlacedFunc],
    remap: &[u32],
    opts: &Options,
    kfuncs: &KfuncTags<'_>,
    why: &mut Explain,
) -> Vec<(&'static str, usize)> {
    let (consistent, optimized_func) = (opts.consistent_func, opts.optimized_func);
    let mut outcome: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut by_name: BTreeMap<&[u8], Vec<&PlacedFunc>> = BTreeMap::new();
    for f in funcs {
        by_name.entry(&f.name).or_default().push(f);
    }
    // which of the names and tags the base holds, found in one pass over its strings
    let mut queries: Vec<&[u8]> = by_name.keys().copied().collect();
    queries.extend([BPF_KFUNC_TAG, BPF_FASTCALL_TAG]);
    queries.extend(funcs.iter().flat_map(|f| f.decl_tags.iter().map(|(t, _)| t.as_slice())));
    let base_strs: HashMap<&[u8], Option<u32>, FnvBuild> = match base {
        Some(b) => queries.iter().copied().zip(b.strings.find_many(&queries)).collect(),
        None => HashMap::with_hasher(FnvBuild),
    };
    let in_base = base_func_index(base, &base_strs.values().flatten().copied().collect());
    for (name, cands) in by_name {
        let explaining = why.wants(name);
        let ok: Vec<&&PlacedFunc> = cands.iter().filter(|f| f.skip.is_none()).collect();
        let Some(first) = ok.first() else {
            if explaining {
                why.note(name, "=> no BTF: no definition is a candidate".into());
            }
            *outcome.entry(cands[0].skip.map_or("dropped", SkipReason::describe)).or_default() += 1;
            continue;
        };
        // pahole combines every definition of a name: one that changed the calling convention
        // taints the name; differing prototypes make it inconsistent; optimized-out parameters
        // are fine (callers still pass them)
        if ok.iter().any(|f| f.unexpected_reg) {
            if explaining {
                why.note(name, "=> no BTF: a definition changed the calling convention".into());
            }
            *outcome.entry("a definition changed the calling convention").or_default() += 1;
            continue;
        }
        if !optimized_func && ok.iter().any(|f| f.optimized) {
            if explaining {
                why.note(name, "=> no BTF: parameters optimized out and optimized_func is off".into());
            }
            *outcome.entry("parameters optimized out (optimized_func off)").or_default() += 1;
            continue;
        }
        // pahole compares return and parameter types, not parameter names (the weak
        // `__unused` stubs of sys_ni.c agree with the real syscalls), loosely (a `const` on one
        // side only does not count: the fortified inline `strcpy(char *const p, ...)` of
        // fortify-string.h agrees with lib/string.c's), and keeps the first
        let proto = remap[first.proto as usize];
        if consistent
            && ok.iter().any(|f| {
                let p = remap[f.proto as usize];
                p != proto && !types_match(btf, base, proto, p)
            })
        {
            if explaining {
                why.note(name, "=> no BTF: the definitions' prototypes differ between compile \
                                units (consistent_func)".into());
            }
            *outcome.entry("prototypes differ between compile units").or_default() += 1;
            continue;
        }
        let name_off = split_str(btf, base, &base_strs, name);
        let id = add_unless_in_base(btf, &in_base, &[name_off, info(KIND_FUNC, 0, false), proto]);
        *outcome.entry(if id < btf.start_id { "in the base already" } else { "encoded" }).or_default() += 1;
        let mut tags = kfuncs.tags(name);
        if explaining {
            why.note(name, if id < btf.start_id {
                "=> FUNC: the base BTF has it already (this split BTF refers to it)".into()
            } else {
                format!("=> FUNC emitted{}", if tags.is_empty() { "" } else { ", tagged as a kfunc" })
            });
        }
        for t in &first.decl_tags {
            if !tags.contains(t) {
                tags.push(t.clone());
            }
        }
        for (tag, idx) in &tags {
            let tag = split_str(btf, base, &base_strs, tag);
            add_unless_in_base(btf, &in_base, &[tag, info(KIND_DECL_TAG, 0, false), id, *idx as u32]);
        }
    }
    outcome.into_iter().collect()
}

/// Remove the prototypes made for function candidates that got no FUNC (pahole makes a
/// prototype only for the functions it emits) and that no other type uses; later ids move down.
fn drop_unused_protos(btf: &mut Btf, candidates: &[u32]) {
    let start = btf.start_id;
    let n = btf.offs.len();
    let mut used = vec![false; n];
    for i in 0..n {
        let rec = btf.record(start + i as u32);
        crate::dedup::for_each_id_slot(rec, |p| {
            if rec[p] >= start {
                used[(rec[p] - start) as usize] = true;
            }
        });
    }
    let mut drop = vec![false; n];
    for &id in candidates {
        if id >= start && !used[(id - start) as usize] {
            drop[(id - start) as usize] = true;
        }
    }
    if !drop.contains(&true) {
        return;
    }
    let mut new_id = vec![0u32; n];
    let mut next = start;
    for i in 0..n {
        new_id[i] = next;
        if !drop[i] {
            next += 1;
        }
    }
    let old_words = std::mem::take(&mut btf.words);
    let old_offs = std::mem::take(&mut btf.offs);
    btf.words.reserve(old_words.len());
    for i in 0..n {
        if drop[i] {
            continue;
        }
        let s = old_offs[i] as usize;
        let e = old_offs.get(i + 1).map_or(old_words.len(), |&o| o as usize);
        btf.offs.push(btf.words.len() as u32);
        let at = btf.words.len();
        btf.words.extend_from_slice(&old_words[s..e]);
        remap_record(&mut btf.words[at..], |x| x, |t| if t >= start { new_id[(t - start) as usize] } else { t });
    }
}

/// Offset of string `s` for a type added after dedup: the base's copy if it has one (as libbpf's
/// `btf__add_str` does for split BTF, and as dedup would have made it).
/// `known`: answers for the base looked up beforehand.
fn split_str(btf: &mut Btf, base: Option<&Btf>, known: &HashMap<&[u8], Option<u32>, FnvBuild>,
             s: &[u8]) -> u32 {
    let in_base = match known.get(s) {
        Some(&found) => found,
        None => base.and_then(|b| b.strings.find(s)),
    };
    in_base.unwrap_or_else(|| btf.strings.add(s))
}

/// FUNC and DECL_TAG records of the base by their words: a record made after dedup that equals
/// one of them is that base type, as dedup would have found.
/// Only records named by one of `names` (base string offsets) are indexed: a vmlinux base has
/// ~60,000 FUNCs, a module looks for a few dozen of them.
fn base_func_index<'b>(base: Option<&'b Btf>, names: &HashSet<u32, FnvBuild>)
                       -> HashMap<&'b [u32], u32, FnvBuild> {
    let mut index = HashMap::with_hasher(FnvBuild);
    let Some(b) = base else { return index };
    for id in 1..b.type_count() {
        let rec = b.record(id);
        if matches!(info_kind(rec[1]), KIND_FUNC | KIND_DECL_TAG) && names.contains(&rec[0]) {
            index.entry(rec).or_insert(id);
        }
    }
    index
}

fn add_unless_in_base(btf: &mut Btf, in_base: &HashMap<&[u32], u32, FnvBuild>, rec: &[u32]) -> u32 {
    match in_base.get(rec) {
        Some(&id) => id,
        None => btf.push_record(rec),
    }
}

/// What variable encoding needs of the ELF file, and which sections it encodes.
struct VarContext<'e, 'a> {
    sections: &'e [crate::elf::SectionInfo<'a>],
    symbols: &'e [crate::elf::Symbol<'a>],
    relocatable: bool,
    ptr_size: u64,
    /// only `.data..percpu` (the default; `global_var` encodes every section)
    percpu_only: bool,
}

/// Name prefixes of variables pahole never encodes (generated, and of no use to anyone).
const FILTERED_VAR_PREFIXES: &[&[u8]] = &[
    b"__UNIQUE_ID",
    b"__tpstrtab_",
    b"__exitcall_",
    b"__gendwarfksyms_ptr_",
    b"__func_stack_frame_non_standard_",
];

/// pahole's `btf_name_valid`: a C-like identifier (dots allowed) shorter than 128 bytes.
fn btf_name_valid(name: &[u8]) -> bool {
    let Some((&first, rest)) = name.split_first() else { return false };
    (first.is_ascii_alphabetic() || first == b'_' || first == b'.')
        && name.len() < 128
        && rest.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.')
}

/// Size in bytes of the (pre-dedup) type `id`, as pahole's `tag__size` sees it; 0 for void,
/// forward declarations and function types.
fn type_size(btf: &Btf, mut id: u32, ptr_size: u64) -> u64 {
    for _ in 0..256 {
        if id == 0 || id < btf.start_id {
            return 0;
        }
        let r = btf.record(id);
        match info_kind(r[1]) {
            KIND_INT | KIND_STRUCT | KIND_UNION | KIND_ENUM | KIND_ENUM64 | KIND_FLOAT => {
                return u64::from(r[2]);
            }
            KIND_PTR => return ptr_size,
            KIND_TYPEDEF | KIND_CONST | KIND_VOLATILE | KIND_RESTRICT | KIND_TYPE_TAG => id = r[2],
            KIND_ARRAY => return u64::from(r[5]).saturating_mul(type_size(btf, r[3], ptr_size)),
            _ => return 0,
        }
    }
    0
}

/// pahole 1.30's variable encoding: every variable defined at the top level of a compile unit
/// with a static address (`DW_OP_addr`) and not compiler-made gets a VAR, in the DATASEC of
/// the section holding it (the first PROGBITS or NOBITS section whose address range does; in a
/// relocatable object, the section of the object symbol of that name and value), if that
/// section is encoded (by default only `.data..percpu`; every one with `global_var`), unless
/// - its name is empty, starts with one of [`FILTERED_VAR_PREFIXES`] or is not a valid BTF
///   name (pahole with `encode_force`);
/// - it sits at offset 0 of the section without an object symbol of its name there (DWARF
///   gives address 0 to variables the linker discarded);
/// - its type is void or of size 0, or it is larger than 4 GB or beyond 4 GB into the section.
///
/// Each DATASEC lists its variables by offset and is as large as the end of the last one;
/// DATASECs come in section order.
fn add_vars<'a>(
    btf: &mut Btf,
    cus: &[CuTypes<'_>],
    places: &[CuPlacement],
    die_map: &[(u64, u32)],
    ctx: &VarContext<'_, 'a>,
    why: &mut Explain,
) {
    const SHT_PROGBITS: u32 = 1;
    const SHT_NOBITS: u32 = 8;
    let percpu = ctx.sections.iter().find(|s| s.name == PERCPU_SECTION.as_bytes()).map(|s| s.index);
    if ctx.percpu_only && percpu.is_none() {
        for v in cus.iter().flat_map(|c| &c.vars) {
            if why.wants(v.name) {
                why.note(v.name, format!("variable: no BTF: the file has no {PERCPU_SECTION} \
                                           section (only per-CPU variables are encoded)"));
            }
        }
        return;
    }
    // relocatable objects: object symbols by (name, value) -> section
    let mut by_name_value: HashMap<(&[u8], u64), usize> = HashMap::new();
    if ctx.relocatable {
        for s in ctx.symbols.iter().filter(|s| s.is_object) {
            if let Some(sec) = s.section {
                by_name_value.entry((s.name, s.address)).or_insert(sec);
            }
        }
    }
    let mut per_section: BTreeMap<usize, Vec<(u32, u32, u32)>> = BTreeMap::new();
    // (section, name) of the object symbols, made when a variable at offset 0 first asks
    let mut objects_by_section: Option<HashSet<(usize, &'a [u8])>> = None;
    for (cu, place) in cus.iter().zip(places) {
        for v in &cu.vars {
            let explaining = why.wants(v.name);
            let skip = |why: &mut Explain, reason: &str| {
                if explaining {
                    why.note_cu(v.name, cu.name, format!("variable: no BTF: {reason}"));
                }
            };
            if v.declaration || v.artificial {
                skip(why, "a declaration, or made by the compiler");
                continue;
            }
            let Some(addr) = v.address else {
                skip(why, "no static address (a register or stack variable)");
                continue;
            };
            let shndx = if ctx.relocatable {
                by_name_value.get(&(v.name, addr)).copied()
            } else {
                ctx.sections.iter().skip(1).find(|s| {
                    (s.sh_type == SHT_PROGBITS || s.sh_type == SHT_NOBITS)
                        && s.addr <= addr
                        && addr - s.addr < s.size
                }).map(|s| s.index)
            };
            let Some(shndx) = shndx else {
                skip(why, "its address is in no data section");
                continue;
            };
            if ctx.percpu_only && Some(shndx) != percpu {
                skip(why, &format!("not a per-CPU variable (not in {PERCPU_SECTION})"));
                continue;
            }
            let offset = addr - ctx.sections[shndx].addr;
            if v.name.is_empty() || FILTERED_VAR_PREFIXES.iter().any(|p| v.name.starts_with(p)) {
                skip(why, "a generated name pahole leaves out");
                continue;
            }
            if offset == 0
                && !objects_by_section
                    .get_or_insert_with(|| {
                        ctx.symbols.iter().filter(|s| s.is_object)
                            .filter_map(|s| Some((s.section?, s.name))).collect()
                    })
                    .contains(&(shndx, v.name))
            {
                skip(why, "at offset 0 with no symbol of its name there (discarded by the linker)");
                continue;
            }
            if !btf_name_valid(v.name) {
                skip(why, "not a valid BTF name");
                continue;
            }
            // typed by its declaration when it has one, as pahole does
            let (type_die, local) = match v.spec_type {
                Some(t) => (t, v.spec_local_type),
                None => (v.type_die, v.local_type),
            };
            let Some(die) = type_die else {
                skip(why, "void type");
                continue;
            };
            let Some(ty) = local.map(|l| global_ref(place, l)).or_else(|| die_type(die_map, die)) else {
                skip(why, "its type could not be resolved");
                continue;
            };
            let size = type_size(btf, ty, ctx.ptr_size);
            if size == 0 || size > u64::from(u32::MAX) || offset > u64::from(u32::MAX) {
                skip(why, "size 0, or size or offset beyond 4 GB");
                continue;
            }
            let id = btf.add_var(v.name, ty, u32::from(v.external));
            if explaining {
                why.note_cu(v.name, cu.name, format!(
                    "variable: => VAR emitted in {} at offset {offset}, size {size}",
                    String::from_utf8_lossy(ctx.sections[shndx].name)));
            }
            per_section.entry(shndx).or_default().push((offset as u32, id, size as u32));
        }
    }
    for (shndx, mut entries) in per_section {
        entries.sort_by_key(|&(offset, _, _)| offset);
        let &(last_offset, _, last_size) = entries.last().expect("a section with variables");
        btf.add_datasec(ctx.sections[shndx].name, last_offset + last_size);
        for (offset, id, size) in entries {
            btf.add_secinfo(id, offset, size);
        }
    }
}

/// The record of any type id of the unified view (split types and their base); void for 0.
fn any_record<'b>(btf: &'b Btf, base: Option<&'b Btf>, id: u32) -> &'b [u32] {
    static VOID: [u32; 3] = [0, 0, 0];
    match base {
        _ if id == 0 => &VOID,
        Some(b) if id < btf.start_id => b.record(id),
        _ => btf.record(id),
    }
}

fn any_name<'b>(btf: &'b Btf, base: Option<&'b Btf>, off: u32) -> &'b [u8] {
    match base {
        Some(b) if off < btf.strings.start => b.strings.get(off),
        _ => btf.strings.get(off),
    }
}

/// pahole's loose equality of two types when it compares the prototypes a function has in
/// different compile units: named types by kind and name, pointers, modifiers and arrays by
/// what they refer to, prototypes by return and parameter types; a `const` present on one side
/// only is skipped.
fn types_match(btf: &Btf, base: Option<&Btf>, mut a: u32, mut b: u32) -> bool {
    loop {
        if a == b {
            return true;
        }
        let (ta, tb) = (any_record(btf, base, a), any_record(btf, base, b));
        let (ka, kb) = (info_kind(ta[1]), info_kind(tb[1]));
        if ka != kb {
            if ka == KIND_CONST {
                a = ta[2];
                continue;
            }
            if kb == KIND_CONST {
                b = tb[2];
                continue;
            }
            return false;
        }
        match ka {
            KIND_INT | KIND_FLOAT | KIND_STRUCT | KIND_UNION | KIND_ENUM | KIND_ENUM64
            | KIND_FWD | KIND_TYPEDEF => {
                return any_name(btf, base, ta[0]) == any_name(btf, base, tb[0]);
            }
            KIND_PTR | KIND_CONST | KIND_VOLATILE | KIND_RESTRICT | KIND_TYPE_TAG => {
                a = ta[2];
                b = tb[2];
            }
            KIND_ARRAY => {
                if ta[5] != tb[5] {
                    return false;
                }
                a = ta[3];
                b = tb[3];
            }
            KIND_FUNC_PROTO => {
                if info_vlen(ta[1]) != info_vlen(tb[1]) || !types_match(btf, base, ta[2], tb[2]) {
                    return false;
                }
                let n = info_vlen(ta[1]) as usize;
                return (0..n).all(|i| types_match(btf, base, ta[4 + 2 * i], tb[4 + 2 * i]));
            }
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::may_refer_across_units;

    /// One abbreviation table: code 1, DW_TAG_variable (0x34), no children, then the
    /// (attribute, form) pairs given, then the end of the entry and of the table.
    fn table(specs: &[u8]) -> Vec<u8> {
        let mut t = vec![1, 0x34, 0];
        t.extend_from_slice(specs);
        t.extend_from_slice(&[0, 0, 0]);
        t
    }

    #[test]
    fn cross_unit_forms_are_found() {
        // DW_AT_name strp, DW_AT_type ref4: unit-local only
        assert!(!may_refer_across_units(&table(&[0x03, 0x0e, 0x49, 0x13])));
        // DW_AT_type ref_addr
        assert!(may_refer_across_units(&table(&[0x03, 0x0e, 0x49, 0x10])));
        // DW_FORM_indirect may be anything
        assert!(may_refer_across_units(&table(&[0x49, 0x16])));
        // GNU alt-file reference (0x1f20, two-byte ULEB128)
        assert!(may_refer_across_units(&table(&[0x49, 0xa0, 0x3e])));
        // implicit_const carries a value that must be skipped, here 0x10 (not a form)
        assert!(!may_refer_across_units(&table(&[0x3b, 0x21, 0x10, 0x49, 0x13])));
        // a second table after the first one
        let mut two = table(&[0x49, 0x13]);
        two.extend(table(&[0x49, 0x10]));
        assert!(may_refer_across_units(&two));
    }

    #[test]
    fn truncated_abbreviations_count_as_may() {
        assert!(may_refer_across_units(&[1, 0x34, 0, 0x49]));
        assert!(may_refer_across_units(&[1, 0x80]));
    }
}
