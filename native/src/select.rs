//! Which functions and variables get BTF: pahole 1.30's rules.
//!
//! Functions (FUNC + FUNC_PROTO), decided over all CUs:
//! 1. The ELF symbol table's `STT_FUNC` symbols by full name, and the prefixes (up to the first
//!    `.`) of the suffixed ones: `foo.isra.0`, `foo.constprop.0`, `foo.part.0`. `.cold` pieces
//!    are never a function's entry and are left out.
//! 2. Per CU, a candidate is a named subprogram that is not a declaration and whose
//!    parameters are all named: definitions with code, concrete out-of-line instances (named
//!    through their origin, with their own parameter list) and, as pahole 1.30 does, the
//!    abstract DIE of an inline function. Its name must be a symbol, or with
//!    `optimized_func` the prefix of a suffixed symbol (the compiler renamed an optimized copy).
//! 3. Candidates of the same name from all CUs are combined. The name is dropped if any of them
//!    keeps a parameter in another register than the calling convention (the compiler changed
//!    the ABI), or, with `consistent_func`, if their
//!    prototypes differ after dedup (parameter names included). Optimized-out parameters alone
//!    do not drop it: callers still pass them.
//! 4. Survivors are added sorted by name, with static linkage, as pahole does.
//!
//! (pahole releases after 1.30 also drop names that have several addresses; 1.30 does not.)
//!
//! Variables (VAR + DATASEC), by default only the per-CPU ones of `.data..percpu`, every
//! global one with `global_var`: see `add_vars` in encode.rs.

use crate::elf::Symbol;
use std::collections::HashSet;

pub const PERCPU_SECTION: &str = ".data..percpu";

/// Why a function candidate has no BTF (for `--explain`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SkipReason {
    NotInSymtab,
    UnnamedParams,
    CrossUnitType,
}

impl SkipReason {
    pub fn describe(self) -> &'static str {
        match self {
            SkipReason::NotInSymtab => "no STT_FUNC symbol of that name (inlined everywhere, or not code)",
            SkipReason::UnnamedParams => "a parameter has no name",
            SkipReason::CrossUnitType => "its prototype refers to a type outside its compile unit",
        }
    }
}

pub struct ElfFunctions<'a> {
    exact: HashSet<&'a [u8]>,
    /// prefixes of suffixed symbols (`foo` of `foo.isra.0`)
    prefixes: HashSet<&'a [u8]>,
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

impl<'a> ElfFunctions<'a> {
    pub fn new(symbols: &[Symbol<'a>]) -> Self {
        let mut exact = HashSet::new();
        let mut prefixes = HashSet::new();
        for s in symbols.iter().filter(|s| s.is_func && s.section.is_some()) {
            if contains(s.name, b".cold") {
                continue;
            }
            exact.insert(s.name);
            if let Some(i) = s.name.iter().position(|&b| b == b'.') {
                if i > 0 {
                    prefixes.insert(&s.name[..i]);
                }
            }
        }
        ElfFunctions { exact, prefixes }
    }

    /// An `STT_FUNC` symbol of exactly this name (not only a suffixed copy) exists.
    pub fn has_exact(&self, name: &[u8]) -> bool {
        self.exact.contains(name)
    }

    pub fn check(&self, name: &[u8], optimized_func: bool) -> Result<(), SkipReason> {
        if self.exact.contains(name) || (optimized_func && self.prefixes.contains(name)) {
            Ok(())
        } else {
            Err(SkipReason::NotInSymtab)
        }
    }
}
