//! Which functions and variables get BTF: pahole 1.30's rules.
//!
//! Functions (FUNC + FUNC_PROTO), decided over all CUs:
//! 1. The ELF symbol table's `STT_FUNC` symbols, keyed by name up to the first `.` (so
//!    `foo.isra.0` counts as `foo`; `.cold` and `.part` pieces are ignored). A name seen at several addresses is
//!    *ambiguous*: a BTF function must stand for one address, so it is skipped.
//! 2. Per CU, a candidate is a named subprogram definition with code whose parameters are all
//!    named, and whose name is in that table.
//! 3. Candidates of the same name from several CUs are merged; with `consistent_func` they must
//!    all have the same prototype after dedup, otherwise the name is skipped.
//! 4. Survivors are added sorted by name, with static linkage, as pahole does.
//!
//! Variables (VAR + DATASEC), by default only per-CPU ones: a CU-level variable definition
//! whose address falls on a sized `STT_OBJECT` symbol in `.data..percpu` becomes a VAR (global
//! linkage if external) and an entry of the `.data..percpu` DATASEC; each address once.

use crate::elf::Symbol;
use std::collections::HashMap;

pub const PERCPU_SECTION: &str = ".data..percpu";

/// Why a function candidate has no BTF (for `--explain`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SkipReason {
    NotInSymtab,
    UnnamedParams,
    AmbiguousAddress,
    InconsistentProto,
    CrossUnitType,
}

impl SkipReason {
    pub fn describe(self) -> &'static str {
        match self {
            SkipReason::NotInSymtab => "no STT_FUNC symbol of that name (inlined everywhere, or not code)",
            SkipReason::UnnamedParams => "a parameter has no name",
            SkipReason::AmbiguousAddress => "the name has several addresses in the symbol table",
            SkipReason::InconsistentProto => "compile units disagree on its prototype",
            SkipReason::CrossUnitType => "its prototype refers to a type outside its compile unit",
        }
    }
}

pub struct ElfFunctions<'a> {
    /// stripped name -> ambiguous
    names: HashMap<&'a [u8], bool>,
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn strip_suffix(name: &[u8]) -> &[u8] {
    match name.iter().position(|&b| b == b'.') {
        Some(0) | None => name,
        Some(i) => &name[..i],
    }
}

impl<'a> ElfFunctions<'a> {
    pub fn new(symbols: &[Symbol<'a>]) -> Self {
        let mut addrs: HashMap<&'a [u8], u64> = HashMap::new();
        let mut names: HashMap<&'a [u8], bool> = HashMap::new();
        for s in symbols.iter().filter(|s| s.is_func && s.section.is_some()) {
            // `foo.cold` and `foo.part.N` are pieces split off `foo`, not functions of their own
            if contains(s.name, b".cold") || contains(s.name, b".part") {
                continue;
            }
            let n = strip_suffix(s.name);
            match addrs.get(n) {
                None => {
                    addrs.insert(n, s.address);
                    names.insert(n, false);
                }
                Some(&a) if a != s.address => {
                    names.insert(n, true);
                }
                Some(_) => {}
            }
        }
        ElfFunctions { names }
    }

    pub fn check(&self, name: &[u8]) -> Result<(), SkipReason> {
        match self.names.get(name) {
            None => Err(SkipReason::NotInSymtab),
            Some(true) => Err(SkipReason::AmbiguousAddress),
            Some(false) => Ok(()),
        }
    }
}

pub struct PercpuVars<'a> {
    pub section_size: u64,
    section_addr: u64,
    /// address -> (symbol name, size)
    by_addr: HashMap<u64, (&'a [u8], u64)>,
}

impl<'a> PercpuVars<'a> {
    pub fn new(symbols: &[Symbol<'a>], section: Option<(usize, u64, u64)>) -> Option<Self> {
        let (idx, addr, size) = section?;
        let mut by_addr = HashMap::new();
        for s in symbols {
            if s.is_object && s.section == Some(idx) && s.size > 0 {
                by_addr.entry(s.address).or_insert((s.name, s.size));
            }
        }
        Some(PercpuVars { section_size: size, section_addr: addr, by_addr })
    }

    /// (offset in the section, size) of the per-CPU variable at `address`.
    pub fn lookup(&self, address: u64) -> Option<(u32, u32)> {
        let &(_, size) = self.by_addr.get(&address)?;
        Some(((address - self.section_addr) as u32, size as u32))
    }
}
