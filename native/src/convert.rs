//! One compile unit's DWARF to BTF, following what pahole emits for each DIE.
//!
//! Each CU converts on its own (in parallel with the others) into a CU-local [`Btf`]: ids from 1,
//! its own string table. References between DIEs are written as fix-ups and resolved when the
//! CU's walk ends; references that leave the CU (`DW_FORM_ref_addr`: LTO, dwz) stay as external
//! fix-ups, resolved when all CUs are merged. Which DIE becomes which kind:
//!
//! * base types: INT (signed/bool encodings; sizes that are not a power of two become pahole's
//!   `__SANITIZED_FAKE_INT__`) or FLOAT with the `float` feature;
//! * pointer/const/volatile/restrict/typedef: the same kinds; clang's `btf_type_tag`
//!   annotations on a pointer become a TYPE_TAG chain between the pointer and its pointee;
//! * structure/union/class: STRUCT/UNION with members (DWARF 4 `bit_offset` and DWARF 5
//!   `data_bit_offset` bitfields), or FWD when only declared;
//! * enumeration: ENUM, or ENUM64 when wider than 4 bytes (unless enum64 is off);
//! * array: one ARRAY whose length is the product of all dimensions (as pahole does), indexed by
//!   the CU's `int`, or when it has none another CU's (see `encode::Merger`);
//! * subroutine types: FUNC_PROTO (unspecified parameters end in a `(0, 0)` parameter);
//! * atomic and unspecified types are transparent (the referenced type, or void).
//!
//! Functions and variables are collected as candidates; which ones get FUNC/VAR is decided over
//! all CUs (see `encode.rs`).

use crate::btf::*;
use gimli::{AttributeValue, EndianSlice, RunTimeEndian, UnitOffset};

pub type R<'a> = EndianSlice<'a, RunTimeEndian>;

#[derive(Clone, Debug, Default)]
pub struct Options {
    pub vars: bool,
    /// with `vars`: every global variable (`global_var`), not only the per-CPU ones
    pub global_vars: bool,
    pub consistent_func: bool,
    pub gen_floats: bool,
    pub enum64: bool,
    pub decl_tags: bool,
    pub type_tags: bool,
    /// DW_LANG_* values whose CUs are skipped.
    pub lang_exclude: Vec<u16>,
    /// DWARF register numbers of the first integer arguments in the target's calling
    /// convention (empty: parameter locations are not checked).
    pub register_params: Vec<u16>,
    pub optimized_func: bool,
}

/// A function definition seen in a CU, with its prototype as CU-local records.
pub struct FuncCandidate<'a> {
    pub name: &'a [u8],
    pub external: bool,
    /// FUNC_PROTO record (header + params) with CU-local string offsets and type ids.
    pub proto: Vec<u32>,
    /// Word indexes in `proto` that hold type references still to fix up, with DIE targets.
    pub proto_fixups: Vec<(u32, u64)>,
    pub all_params_named: bool,
    pub decl_tags: Vec<(&'a [u8], i32)>,
    /// a parameter was optimized out (no register location although one was expected)
    pub optimized: bool,
    /// a parameter lives in another register than the calling convention puts it in: the
    /// compiler changed the function's ABI, so BTF would mislead tracers
    pub unexpected_reg: bool,
}

pub struct VarCandidate<'a> {
    pub name: &'a [u8],
    pub external: bool,
    pub address: Option<u64>,
    pub type_die: Option<u64>,
    /// `type_die` as a CU-local type id, when the type is in this CU
    pub local_type: Option<u32>,
    pub declaration: bool,
    /// compiler-made (DW_AT_artificial): not in the source, never encoded
    pub artificial: bool,
    specification: Option<u64>,
    /// with a DW_AT_specification: the declaration's type (pahole types a variable by its
    /// declaration, so `extern int a[];` + `int a[4] = ...` is an incomplete array, size 0)
    pub spec_type: Option<Option<u64>>,
    /// `spec_type` as a CU-local type id
    pub spec_local_type: Option<u32>,
}

impl CuTypes<'_> {
    pub fn empty() -> Self {
        CuTypes {
            name: b"",
            btf: Btf::new(1, 0),
            externals: Vec::new(),
            die_map: Vec::new(),
            funcs: Vec::new(),
            vars: Vec::new(),
            skipped: true,
            index_words: Vec::new(),
            int_id: None,
        }
    }
}

pub struct CuTypes<'a> {
    /// the CU's DW_AT_name (its source file), for explanations
    pub name: &'a [u8],
    pub btf: Btf,
    /// Words of `btf.words` that still refer to a DIE outside this CU (global offsets).
    pub externals: Vec<(u32, u64)>,
    /// DIE offset → CU-local id, sorted by offset, for resolving other CUs' externals.
    pub die_map: Vec<(u64, u32)>,
    pub funcs: Vec<FuncCandidate<'a>>,
    pub vars: Vec<VarCandidate<'a>>,
    pub skipped: bool,
    /// words holding an array index type still to set (the CU has no `int`)
    pub index_words: Vec<u32>,
    /// the CU's `int`, if it has one
    pub int_id: Option<u32>,
}

/// clang's `DW_TAG_LLVM_annotation` (btf_decl_tag / btf_type_tag attributes).
const DW_TAG_LLVM_ANNOTATION: gimli::DwTag = gimli::DwTag(0x6000);

/// What a DIE's children contribute to its own record.
#[derive(Default)]
struct Kids<'a> {
    members: Vec<Attrs<'a>>,
    member_tags: Vec<(&'a [u8], i32)>,
    enumerators: Vec<(&'a [u8], i64, bool)>,
    subranges: Vec<u64>,
    params: Vec<Attrs<'a>>,
    param_tags: Vec<(&'a [u8], i32)>,
    unspecified_params: bool,
    annotations: Vec<(&'a [u8], &'a [u8])>,
}

#[derive(Default, Clone)]
struct Attrs<'a> {
    name: Option<&'a [u8]>,
    ty: Option<u64>,
    byte_size: Option<u64>,
    bit_size: Option<u64>,
    bit_offset: Option<u64>,
    data_bit_offset: Option<u64>,
    member_location: Option<u64>,
    encoding: Option<u64>,
    declaration: bool,
    external: bool,
    artificial: bool,
    upper_bound: Option<i64>,
    count: Option<u64>,
    const_value: Option<i64>,
    /// the constant was written as a negative DW_FORM_sdata (data1..8 carry no sign)
    const_negative: bool,
    const_value_str: Option<&'a [u8]>,
    location_addr: Option<u64>,
    /// DW_AT_location of a parameter, as written (expression or location list)
    location: Option<AttributeValue<R<'a>>>,
    abstract_origin: Option<u64>,
    specification: Option<u64>,
    low_pc: bool,
    /// the DIE these attributes belong to (set for parameters)
    die: u64,
}

pub struct CuConverter<'d, 'a> {
    cu_name: &'a [u8],
    dwarf: &'d gimli::Dwarf<R<'a>>,
    unit: &'d gimli::Unit<R<'a>>,
    opts: &'d Options,
    out: Btf,
    fixups: Vec<(u32, u64)>,
    aliases: Vec<(u64, Option<u64>)>,
    die_map: Vec<(u64, u32)>,
    funcs: Vec<FuncCandidate<'a>>,
    vars: Vec<VarCandidate<'a>>,
    int_id: Option<u32>,
    index_type_needed: Vec<u32>,
    /// named subprograms without code (inline abstract instances, declarations), by DIE
    origins: Vec<(u64, Subprogram<'a>)>,
    /// concrete out-of-line instances with the DIE of their origin
    concrete: Vec<(u64, Subprogram<'a>)>,
    /// definitions with code and their own name, checked once the CU's types are resolved
    defined: Vec<Subprogram<'a>>,
    /// CU-level variable declarations: DIE -> (name, type, external)
    var_decls: Vec<(u64, &'a [u8], Option<u64>, bool)>,
}

/// A subprogram DIE as far as BTF cares.
struct Subprogram<'a> {
    name: Option<&'a [u8]>,
    ret: Option<u64>,
    external: bool,
    params: Vec<Attrs<'a>>,
    unspecified: bool,
    decl_tags: Vec<(&'a [u8], i32)>,
}

fn udata(v: &AttributeValue<R<'_>>) -> Option<u64> {
    v.udata_value()
}

fn sdata(v: &AttributeValue<R<'_>>) -> Option<i64> {
    match *v {
        AttributeValue::Sdata(x) => Some(x),
        AttributeValue::Udata(x) => Some(x as i64),
        AttributeValue::Data1(x) => Some(i64::from(x)),
        AttributeValue::Data2(x) => Some(i64::from(x)),
        AttributeValue::Data4(x) => Some(i64::from(x)),
        AttributeValue::Data8(x) => Some(x as i64),
        _ => None,
    }
}

/// Whether `node` makes something of a DIE of this tag (at this depth below the CU) rather
/// than only looking among its children.
fn converted(tag: gimli::DwTag, depth: u32) -> bool {
    match tag {
        gimli::DW_TAG_base_type
        | gimli::DW_TAG_pointer_type
        | gimli::DW_TAG_const_type
        | gimli::DW_TAG_volatile_type
        | gimli::DW_TAG_restrict_type
        | gimli::DW_TAG_typedef
        | gimli::DW_TAG_atomic_type
        | gimli::DW_TAG_unspecified_type
        | gimli::DW_TAG_structure_type
        | gimli::DW_TAG_union_type
        | gimli::DW_TAG_class_type
        | gimli::DW_TAG_enumeration_type
        | gimli::DW_TAG_array_type
        | gimli::DW_TAG_subroutine_type
        | gimli::DW_TAG_subprogram => true,
        gimli::DW_TAG_variable => depth == 0,
        _ => false,
    }
}

impl<'d, 'a> CuConverter<'d, 'a> {
    /// An empty BTF with room for what a CU of this size makes, roughly (measured on a kernel:
    /// a string per 20 bytes of `.debug_info`, half as many string bytes and as many type
    /// words as it has bytes), so that the tables rarely grow and rehash.
    fn sized_for(unit: &gimli::Unit<R<'a>>) -> Btf {
        let len = unit.header.length_including_self();
        let mut btf = Btf::new(1, 0);
        btf.strings = StrTab::with_capacity(0, len / 24, len / 2);
        btf.words.reserve(len / 4);
        btf
    }

    pub fn new(dwarf: &'d gimli::Dwarf<R<'a>>, unit: &'d gimli::Unit<R<'a>>, opts: &'d Options) -> Self {
        CuConverter {
            cu_name: b"",
            dwarf,
            unit,
            opts,
            out: Self::sized_for(unit),
            fixups: Vec::new(),
            aliases: Vec::new(),
            die_map: Vec::new(),
            funcs: Vec::new(),
            vars: Vec::new(),
            int_id: None,
            index_type_needed: Vec::new(),
            origins: Vec::new(),
            concrete: Vec::new(),
            var_decls: Vec::new(),
            defined: Vec::new(),
        }
    }

    fn global_off(&self, off: UnitOffset) -> u64 {
        match off.to_unit_section_offset(self.unit) {
            gimli::UnitSectionOffset::DebugInfoOffset(o) => o.0 as u64,
            gimli::UnitSectionOffset::DebugTypesOffset(o) => (o.0 as u64) | (1 << 63),
        }
    }

    fn reference(&self, v: &AttributeValue<R<'a>>) -> Option<u64> {
        match *v {
            AttributeValue::UnitRef(o) => Some(self.global_off(o)),
            AttributeValue::DebugInfoRef(o) => Some(o.0 as u64),
            _ => None,
        }
    }

    fn attrs(&self, entry: &gimli::DebuggingInformationEntry<R<'a>>) -> Result<Attrs<'a>, gimli::Error> {
        let mut a = Attrs::default();
        let mut it = entry.attrs();
        while let Some(attr) = it.next()? {
            let v = attr.value();
            match attr.name() {
                gimli::DW_AT_name => {
                    a.name = Some(self.dwarf.attr_string(self.unit, v)?.slice());
                }
                gimli::DW_AT_type => a.ty = self.reference(&v),
                gimli::DW_AT_byte_size => a.byte_size = udata(&v),
                gimli::DW_AT_bit_size => a.bit_size = udata(&v),
                gimli::DW_AT_bit_offset => a.bit_offset = udata(&v),
                gimli::DW_AT_data_bit_offset => a.data_bit_offset = udata(&v),
                gimli::DW_AT_data_member_location => {
                    a.member_location = match v {
                        AttributeValue::Exprloc(e) => member_location_expr(e),
                        _ => udata(&v),
                    }
                }
                gimli::DW_AT_encoding => {
                    a.encoding = match v {
                        AttributeValue::Encoding(e) => Some(u64::from(e.0)),
                        _ => udata(&v),
                    }
                }
                gimli::DW_AT_declaration => a.declaration = matches!(v, AttributeValue::Flag(true)),
                gimli::DW_AT_external => a.external = matches!(v, AttributeValue::Flag(true)),
                gimli::DW_AT_artificial => a.artificial = matches!(v, AttributeValue::Flag(true)),
                gimli::DW_AT_upper_bound => a.upper_bound = sdata(&v),
                gimli::DW_AT_count => a.count = udata(&v),
                gimli::DW_AT_const_value => match v {
                    AttributeValue::String(_) | AttributeValue::DebugStrRef(_)
                    | AttributeValue::DebugStrOffsetsIndex(_) | AttributeValue::DebugLineStrRef(_) => {
                        a.const_value_str = Some(self.dwarf.attr_string(self.unit, v)?.slice());
                    }
                    _ => {
                        a.const_value = sdata(&v);
                        a.const_negative = matches!(v, AttributeValue::Sdata(x) if x < 0);
                    }
                },
                gimli::DW_AT_location => {
                    if let AttributeValue::Exprloc(e) = v {
                        a.location_addr = self.location_addr(e);
                    }
                    a.location = Some(v);
                }
                gimli::DW_AT_abstract_origin => a.abstract_origin = self.reference(&v),
                gimli::DW_AT_specification => a.specification = self.reference(&v),
                gimli::DW_AT_low_pc | gimli::DW_AT_ranges | gimli::DW_AT_entry_pc => a.low_pc = true,
                _ => {}
            }
        }
        Ok(a)
    }

    /// The address of a variable located by a lone `DW_OP_addr` / `DW_OP_addrx`.
    fn location_addr(&self, e: gimli::Expression<R<'a>>) -> Option<u64> {
        let mut ops = e.operations(self.unit.encoding());
        match ops.next().ok()?? {
            gimli::Operation::Address { address } => Some(address),
            gimli::Operation::AddressIndex { index } => self.dwarf.address(self.unit, index).ok(),
            _ => None,
        }
    }

    fn fix(&mut self, word: usize, target: Option<u64>) {
        if let Some(t) = target {
            self.fixups.push((word as u32, t));
        }
    }

    fn map_die(&mut self, die: u64, id: u32) {
        self.die_map.push((die, id));
    }

    pub fn run(mut self) -> Result<CuTypes<'a>, gimli::Error> {
        let mut tree = self.unit.entries_tree(None)?;
        let root = tree.root()?;
        let lang = match root.entry().attr_value(gimli::DW_AT_language)? {
            Some(AttributeValue::Language(l)) => Some(l.0),
            _ => None,
        };
        if lang.is_some_and(|l| self.opts.lang_exclude.contains(&l)) {
            return Ok(CuTypes::empty());
        }
        if let Some(v) = root.entry().attr_value(gimli::DW_AT_name)? {
            self.cu_name = self.dwarf.attr_string(self.unit, v).map(|r| r.slice()).unwrap_or(b"");
        }
        let mut kids = root.children();
        while let Some(child) = kids.next()? {
            self.node(child, 0)?;
        }
        self.finish()
    }

    /// One pass over a DIE's children: the parts its own record needs (members, enumerators,
    /// subranges, parameters, annotations) are collected; any other DIE is converted on the
    /// spot, since types may be declared anywhere (in functions, lexical blocks, structs).
    fn scan(&mut self, node: gimli::EntriesTreeNode<'_, '_, '_, R<'a>>, depth: u32) -> Result<Kids<'a>, gimli::Error> {
        let mut k = Kids::default();
        let mut it = node.children();
        while let Some(child) = it.next()? {
            let e = child.entry();
            match e.tag() {
                gimli::DW_TAG_member => {
                    let m = self.attrs(e)?;
                    if m.declaration {
                        continue; // C++ static member
                    }
                    let idx = k.members.len() as i32;
                    for (n, v) in self.scan(child, depth + 1)?.annotations {
                        if n == b"btf_decl_tag" {
                            k.member_tags.push((v, idx));
                        }
                    }
                    k.members.push(m);
                }
                gimli::DW_TAG_enumerator => {
                    let v = self.attrs(e)?;
                    k.enumerators.push((v.name.unwrap_or(b""), v.const_value.unwrap_or(0), v.const_negative));
                }
                gimli::DW_TAG_subrange_type => {
                    let s = self.attrs(e)?;
                    k.subranges.push(match (s.count, s.upper_bound) {
                        (Some(c), _) => c,
                        (None, Some(ub)) if ub >= 0 => ub as u64 + 1,
                        _ => 0,
                    });
                }
                gimli::DW_TAG_formal_parameter => {
                    let mut p = self.attrs(e)?;
                    p.die = self.global_off(e.offset());
                    let idx = k.params.len() as i32;
                    for (n, v) in self.scan(child, depth + 1)?.annotations {
                        if n == b"btf_decl_tag" {
                            k.param_tags.push((v, idx));
                        }
                    }
                    k.params.push(p);
                }
                gimli::DW_TAG_unspecified_parameters => k.unspecified_params = true,
                DW_TAG_LLVM_ANNOTATION => {
                    let a = self.attrs(e)?;
                    if let (Some(n), Some(v)) = (a.name, a.const_value_str) {
                        k.annotations.push((n, v));
                    }
                }
                _ => self.node(child, depth + 1)?,
            }
        }
        Ok(k)
    }

    fn node(&mut self, node: gimli::EntriesTreeNode<'_, '_, '_, R<'a>>, depth: u32) -> Result<(), gimli::Error> {
        let entry = node.entry();
        let tag = entry.tag();
        if !converted(tag, depth) {
            return self.walk(node, depth);
        }
        let die = self.global_off(entry.offset());
        let a = self.attrs(entry)?;
        match tag {
            gimli::DW_TAG_base_type => {
                let id = self.base_type(&a);
                self.map_die(die, id);
            }
            gimli::DW_TAG_pointer_type => {
                let kids = self.scan(node, depth)?;
                let id = self.out.add_ref(KIND_PTR, b"", 0, 0);
                self.map_die(die, id);
                // PTR -> TYPE_TAG(first) -> ... -> TYPE_TAG(last) -> pointee
                let mut prev_word = self.out.words.len() - 1;
                if self.opts.type_tags {
                    for (n, v) in kids.annotations {
                        if n == b"btf_type_tag" {
                            let tid = self.out.add_ref(KIND_TYPE_TAG, v, 0, 0);
                            self.out.words[prev_word] = tid;
                            prev_word = self.out.words.len() - 1;
                        }
                    }
                }
                self.fix(prev_word, a.ty);
                return Ok(());
            }
            gimli::DW_TAG_const_type | gimli::DW_TAG_volatile_type | gimli::DW_TAG_restrict_type
            | gimli::DW_TAG_typedef => {
                let kind = match tag {
                    gimli::DW_TAG_const_type => KIND_CONST,
                    gimli::DW_TAG_volatile_type => KIND_VOLATILE,
                    gimli::DW_TAG_restrict_type => KIND_RESTRICT,
                    _ => KIND_TYPEDEF,
                };
                let name = if kind == KIND_TYPEDEF { a.name.unwrap_or(b"") } else { b"" };
                let id = self.out.add_ref(kind, name, 0, 0);
                self.map_die(die, id);
                let w = self.out.words.len() - 1;
                self.fix(w, a.ty);
                let kids = self.scan(node, depth)?;
                if kind == KIND_TYPEDEF && self.opts.decl_tags {
                    for (n, v) in kids.annotations {
                        if n == b"btf_decl_tag" {
                            self.out.add_decl_tag(v, id, -1);
                        }
                    }
                }
                return Ok(());
            }
            gimli::DW_TAG_atomic_type | gimli::DW_TAG_unspecified_type => {
                self.aliases.push((die, if tag == gimli::DW_TAG_atomic_type { a.ty } else { None }));
            }
            gimli::DW_TAG_structure_type | gimli::DW_TAG_union_type | gimli::DW_TAG_class_type => {
                let is_union = tag == gimli::DW_TAG_union_type;
                let kids = self.scan(node, depth)?;
                let name = a.name.unwrap_or(b"");
                if a.declaration {
                    let id = self.out.add_fwd(name, is_union);
                    self.map_die(die, id);
                    return Ok(());
                }
                let id = self.out.add_composite(is_union, name, a.byte_size.unwrap_or(0) as u32);
                self.map_die(die, id);
                for m in &kids.members {
                    let (bit_offset, bitfield) = member_bits(m);
                    self.out.add_member(m.name.unwrap_or(b""), 0, bit_offset, bitfield);
                    let w = self.out.words.len() - 2;
                    self.fix(w, m.ty);
                }
                if self.opts.decl_tags {
                    for (n, v) in &kids.annotations {
                        if *n == b"btf_decl_tag" {
                            self.out.add_decl_tag(v, id, -1);
                        }
                    }
                    for &(v, idx) in &kids.member_tags {
                        self.out.add_decl_tag(v, id, idx);
                    }
                }
                return Ok(());
            }
            gimli::DW_TAG_enumeration_type => {
                let kids = self.scan(node, depth)?;
                let size = a.byte_size.unwrap_or(4) as u32;
                // libbpf marks an enum signed when a value is negative; DWARF tells a negative
                // value only by its sdata form
                let signed = kids.enumerators.iter().any(|&(_, _, neg)| neg);
                let is64 = size > 4 && self.opts.enum64;
                let id = self.out.add_enum(a.name.unwrap_or(b""), size, signed, is64);
                for &(n, v, _) in &kids.enumerators {
                    self.out.add_enum_value(n, v as u64);
                }
                self.map_die(die, id);
                return Ok(());
            }
            gimli::DW_TAG_array_type => {
                let kids = self.scan(node, depth)?;
                let nelems = if kids.subranges.is_empty() {
                    0
                } else {
                    kids.subranges.iter().fold(1u64, |acc, &n| acc.saturating_mul(n))
                };
                let id = self.out.add_array(0, 0, nelems.min(u64::from(u32::MAX)) as u32);
                self.map_die(die, id);
                let w = self.out.words.len();
                self.fix(w - 3, a.ty);
                self.index_type_needed.push((w - 2) as u32);
                return Ok(());
            }
            gimli::DW_TAG_subroutine_type => {
                let kids = self.scan(node, depth)?;
                let (rec, fix, _) = self.proto(&kids, a.ty);
                let base = self.out.words.len() as u32;
                let id = self.out.push_record(&rec);
                self.map_die(die, id);
                for (w, t) in fix {
                    self.fixups.push((base + w, t));
                }
                return Ok(());
            }
            gimli::DW_TAG_subprogram => {
                let kids = self.scan(node, depth)?;
                // A candidate is a definition with code: either named itself, or a concrete
                // out-of-line instance (of an inline function, or a clone such as .isra) whose
                // name, return type and parameter names live in the DIEs its
                // abstract_origin/specification points to; those are joined up when the CU's
                // walk ends. Named subprograms without code are kept as possible origins.
                let origin = a.abstract_origin.or(a.specification);
                let has_code = a.low_pc && !a.declaration;
                // without `decl_tag`, functions get no DECL_TAG either (as pahole 1.30)
                let decl_tags: Vec<(&'a [u8], i32)> = if self.opts.decl_tags {
                    kids.annotations
                        .iter()
                        .filter(|(n, _)| *n == b"btf_decl_tag")
                        .map(|&(_, v)| (v, -1))
                        .chain(kids.param_tags.iter().copied())
                        .collect()
                } else {
                    Vec::new()
                };
                let sub = Subprogram {
                    name: a.name,
                    ret: a.ty,
                    external: a.external,
                    params: kids.params,
                    unspecified: kids.unspecified_params,
                    decl_tags,
                };
                if has_code {
                    if let Some(o) = origin {
                        self.concrete.push((o, sub));
                    } else if sub.name.is_some() {
                        self.defined.push(sub);
                    }
                } else if sub.name.is_some() {
                    // pahole also takes the abstract DIE of an inline function (DW_AT_inline,
                    // no code) as a definition, so its prototype joins the name's candidates
                    if !a.declaration {
                        let cand = self.candidate(&sub, None);
                        self.funcs.push(cand);
                    }
                    self.origins.push((die, sub));
                }
                return Ok(());
            }
            gimli::DW_TAG_variable if depth == 0 => {
                if a.declaration {
                    if let Some(name) = a.name {
                        self.var_decls.push((die, name, a.ty, a.external));
                    }
                } else if a.name.is_some() || a.specification.is_some() {
                    self.vars.push(VarCandidate {
                        name: a.name.unwrap_or(b""),
                        external: a.external,
                        address: a.location_addr,
                        type_die: a.ty,
                        local_type: None,
                        declaration: false,
                        artificial: a.artificial,
                        specification: a.specification,
                        spec_type: None,
                        spec_local_type: None,
                    });
                }
            }
            _ => {}
        }
        self.walk(node, depth)
    }

    /// The children of a DIE whose own attributes do not matter (a lexical block, an inlined
    /// call, a local variable, ...): types and functions may be declared anywhere below, so
    /// each child is converted as a DIE of its own. Attributes of DIEs that are not converted
    /// are never decoded (gimli skips them by their abbreviation).
    fn walk(&mut self, node: gimli::EntriesTreeNode<'_, '_, '_, R<'a>>, depth: u32) -> Result<(), gimli::Error> {
        let mut it = node.children();
        while let Some(child) = it.next()? {
            self.node(child, depth + 1)?;
        }
        Ok(())
    }

    fn base_type(&mut self, a: &Attrs<'a>) -> u32 {
        let name = a.name.unwrap_or(b"");
        let size = a.byte_size.unwrap_or(0) as u32;
        let enc = a.encoding.unwrap_or(0);
        if enc == 0x4 && self.opts.gen_floats {
            return self.out.add_float(name, size);
        }
        let encoding = match enc {
            0x2 => INT_BOOL,               // DW_ATE_boolean
            0x5 | 0x6 | 0xd => INT_SIGNED, // signed, signed_char, signed_fixed
            _ => 0,
        };
        // DWARF 5 operation types such as DW_ATE_unsigned_24: BTF wants power-of-two sizes
        let (name, size): (&[u8], u32) =
            if size == 0 || !size.is_power_of_two() { (b"__SANITIZED_FAKE_INT__", 4) } else { (name, size) };
        let id = self.out.add_int(name, size, encoding, size * 8);
        if self.int_id.is_none() && name == b"int" {
            self.int_id = Some(id);
        }
        id
    }

    /// A FUNC_PROTO record: (record, fix-ups as (word, DIE), all parameters named).
    fn proto(&mut self, kids: &Kids<'a>, ret: Option<u64>) -> (Vec<u32>, Vec<(u32, u64)>, bool) {
        let vlen = kids.params.len() + usize::from(kids.unspecified_params);
        let mut rec = vec![0, info(KIND_FUNC_PROTO, vlen as u32, false), 0];
        let mut fix = Vec::new();
        if let Some(r) = ret {
            fix.push((2, r));
        }
        let mut named = true;
        for p in &kids.params {
            if p.name.is_none() {
                named = false;
            }
            let n = self.out.strings.add(p.name.unwrap_or(b""));
            rec.extend_from_slice(&[n, 0]);
            if let Some(t) = p.ty {
                fix.push((rec.len() as u32 - 1, t));
            }
        }
        if kids.unspecified_params {
            rec.extend_from_slice(&[0, 0]);
        }
        (rec, fix, named)
    }

    /// A function candidate for `sub`. `code` gives, for a subprogram with code, the DIEs
    /// holding its parameters' locations, by parameter position (None where the compiler
    /// dropped the parameter from the out-of-line copy): they are checked against the calling
    /// convention as pahole's dwarf_loader does.
    fn candidate(&mut self, sub: &Subprogram<'a>, code: Option<&[Option<&Attrs<'a>>]>) -> FuncCandidate<'a> {
        let kids = Kids {
            params: sub.params.clone(),
            unspecified_params: sub.unspecified,
            ..Kids::default()
        };
        let (optimized, unexpected_reg) = match code {
            Some(code) => self.param_locations(&sub.params, code),
            None => (false, false),
        };
        let (proto, proto_fixups, all_params_named) = self.proto(&kids, sub.ret);
        FuncCandidate {
            name: sub.name.unwrap_or(b""),
            external: sub.external,
            proto,
            proto_fixups,
            all_params_named,
            decl_tags: sub.decl_tags.clone(),
            optimized,
            unexpected_reg,
        }
    }

    /// How a parameter of type DIE `ty` is passed: integer registers it takes (0: memory or
    /// floating-point registers), from the CU's resolved types.
    fn param_regs(&self, ty: Option<u64>) -> u32 {
        let Some(die) = ty else { return 1 };
        let Some(mut id) = self.resolve_local(die) else { return 1 };
        for _ in 0..32 {
            if id == 0 {
                return 1;
            }
            let rec = self.out.record(id);
            match info_kind(rec[1]) {
                KIND_TYPEDEF | KIND_CONST | KIND_VOLATILE | KIND_RESTRICT | KIND_TYPE_TAG => id = rec[2],
                KIND_STRUCT | KIND_UNION => {
                    let size = rec[2];
                    return if size > 16 { 0 } else { size.div_ceil(8).max(1) };
                }
                KIND_FLOAT => return 0,
                KIND_INT if rec[2] > 8 => return 2,
                _ => return 1,
            }
        }
        1
    }

    fn resolve_local(&self, die: u64) -> Option<u32> {
        let mut d = die;
        for _ in 0..16 {
            if let Ok(i) = self.die_map.binary_search_by_key(&d, |&(x, _)| x) {
                return Some(self.die_map[i].1);
            }
            match self.aliases.binary_search_by_key(&d, |&(x, _)| x) {
                Ok(i) => match self.aliases[i].1 {
                    Some(t) => d = t,
                    None => return Some(0),
                },
                Err(_) => return None,
            }
        }
        None
    }

    /// Check where each register-passed parameter lives, as pahole's dwarf_loader does:
    /// (any optimized out, any in an unexpected register). Parameters are walked in prototype
    /// order so that a struct passed by value in two registers shifts the ones after it.
    fn param_locations(&self, params: &[Attrs<'a>], code: &[Option<&Attrs<'a>>]) -> (bool, bool) {
        let regs = &self.opts.register_params;
        if regs.is_empty() {
            return (false, false);
        }
        let (mut optimized, mut unexpected) = (false, false);
        let mut reg_idx = 0usize;
        for (i, p) in params.iter().enumerate() {
            if reg_idx >= regs.len() {
                break;
            }
            let n = self.param_regs(p.ty) as usize;
            if n == 1 {
                match code.get(i).copied().flatten() {
                    Some(c) => {
                        if let Some(loc) = &c.location {
                            let expected = regs[reg_idx];
                            match self.param_reg(loc, expected) {
                                None => optimized = true,
                                Some(r) if r != expected => unexpected = true,
                                Some(_) => {}
                            }
                        } else if c.const_value.is_some() {
                            optimized = true;
                        }
                    }
                    None => optimized = true,
                }
            }
            reg_idx += n;
        }
        (optimized, unexpected)
    }

    /// The register a parameter arrives in: a lone `DW_OP_regN` as the first location, or
    /// `DW_OP_entry_value(DW_OP_regN)` anywhere; the expected register wins when seen.
    fn param_reg(&self, loc: &AttributeValue<R<'a>>, expected: u16) -> Option<u16> {
        let mut found: Option<u16> = None;
        let mut check = |expr: gimli::Expression<R<'a>>, first: bool| -> bool {
            let mut ops = Vec::with_capacity(2);
            let mut it = expr.operations(self.unit.encoding());
            while let Ok(Some(op)) = it.next() {
                ops.push(op);
                if ops.len() > 2 {
                    return false;
                }
            }
            if ops.len() == 2 && matches!(ops[1], gimli::Operation::StackValue) {
                ops.pop();
            }
            if ops.len() != 1 {
                return false;
            }
            match &ops[0] {
                gimli::Operation::Register { register } if first => {
                    found = Some(register.0);
                    register.0 == expected
                }
                gimli::Operation::EntryValue { expression } => {
                    let mut inner = gimli::Expression(*expression).operations(self.unit.encoding());
                    if let (Ok(Some(gimli::Operation::Register { register })), Ok(None)) =
                        (inner.next(), inner.next())
                    {
                        found = Some(register.0);
                        return register.0 == expected;
                    }
                    false
                }
                _ => false,
            }
        };
        match *loc {
            AttributeValue::Exprloc(e) => {
                check(e, true);
            }
            _ => {
                let offset = match *loc {
                    AttributeValue::LocationListsRef(o) => Some(o),
                    AttributeValue::SecOffset(o) => Some(gimli::LocationListsOffset(o)),
                    AttributeValue::DebugLocListsIndex(i) => self.dwarf.locations_offset(self.unit, i).ok(),
                    _ => None,
                };
                // every entry counts, empty ranges too: elfutils (pahole's reader) lists them,
                // and a register in an entry after an empty first one is not "the first"
                if let Some(off) = offset {
                    if let Ok(mut it) = self.dwarf.raw_locations(self.unit, off) {
                        let mut first = true;
                        while let Ok(Some(entry)) = it.next() {
                            use gimli::RawLocListEntry as E;
                            let data = match entry {
                                E::AddressOrOffsetPair { data, .. }
                                | E::OffsetPair { data, .. }
                                | E::StartEnd { data, .. }
                                | E::StartLength { data, .. }
                                | E::StartxEndx { data, .. }
                                | E::StartxLength { data, .. }
                                | E::DefaultLocation { data } => data,
                                E::BaseAddress { .. } | E::BaseAddressx { .. } => continue,
                            };
                            if check(data, first) {
                                break;
                            }
                            first = false;
                        }
                    }
                }
            }
        }
        found
    }

    fn finish(mut self) -> Result<CuTypes<'a>, gimli::Error> {
        // array index type: the CU's `int`; without one, the merge picks it (`encode::Merger`)
        let mut index_words = Vec::new();
        if let Some(id) = self.int_id {
            for &w in &self.index_type_needed {
                self.out.words[w as usize] = id;
            }
        } else {
            index_words = std::mem::take(&mut self.index_type_needed);
        }
        // variables defined with DW_AT_specification take name and type from the declaration
        self.var_decls.sort_unstable_by_key(|&(d, _, _, _)| d);
        for v in &mut self.vars {
            if let Some(spec) = v.specification {
                if let Ok(i) = self.var_decls.binary_search_by_key(&spec, |&(d, _, _, _)| d) {
                    let (_, n, t, ext) = self.var_decls[i];
                    if v.name.is_empty() {
                        v.name = n;
                    }
                    v.type_die = v.type_die.or(t);
                    v.spec_type = Some(t);
                    v.external |= ext;
                }
            }
        }
        self.die_map.sort_unstable();
        // aliases (atomic, unspecified types) resolve to what they stand for
        self.aliases.sort_unstable();
        for i in 0..self.vars.len() {
            self.vars[i].local_type = self.vars[i].type_die.and_then(|d| self.resolve_local(d));
            self.vars[i].spec_local_type =
                self.vars[i].spec_type.flatten().and_then(|d| self.resolve_local(d));
        }
        let mut externals = Vec::new();
        for i in 0..self.fixups.len() {
            let (w, die) = self.fixups[i];
            match self.resolve_local(die) {
                Some(id) => self.out.words[w as usize] = id,
                None => externals.push((w, die)),
            }
        }
        // functions with code: concrete instances take name, return type, parameter list and
        // external from their origin; their own parameter DIEs only say where each one lives
        self.origins.sort_unstable_by_key(|&(d, _)| d);
        for sub in std::mem::take(&mut self.defined) {
            let code: Vec<Option<&Attrs<'a>>> = sub.params.iter().map(Some).collect();
            let cand = self.candidate(&sub, Some(&code));
            self.funcs.push(cand);
        }
        let origins = std::mem::take(&mut self.origins);
        for (o, sub) in std::mem::take(&mut self.concrete) {
            let Ok(i) = origins.binary_search_by_key(&o, |&(d, _)| d) else { continue };
            let org = &origins[i].1;
            let mut full = Subprogram {
                name: org.name,
                ret: org.ret,
                external: org.external,
                params: org.params.clone(),
                unspecified: org.unspecified,
                decl_tags: org.decl_tags.clone(),
            };
            if full.params.is_empty() && !sub.params.is_empty() {
                full.params = sub.params.clone();
            }
            // pahole lists the parameters the out-of-line copy still has, in the copy's own DIE
            // order: a copy that lost or reordered parameters (constprop, isra) gets another
            // prototype, which then disagrees with the origin's and makes the name inconsistent
            let mut present: Vec<(usize, &Attrs<'a>)> = Vec::new();
            for p in &sub.params {
                match p.abstract_origin.and_then(|po| full.params.iter().position(|q| q.die == po)) {
                    Some(k) => present.push((k, p)),
                    None if p.name.is_some() => present.push((usize::MAX, p)),
                    None => {}
                }
            }
            let params: Vec<Attrs<'a>> = present
                .iter()
                .map(|&(k, p)| if k == usize::MAX { p.clone() } else { full.params[k].clone() })
                .collect();
            let code: Vec<Option<&Attrs<'a>>> = present.iter().map(|&(_, p)| Some(p)).collect();
            full.params = params;
            let cand = self.candidate(&full, Some(&code));
            self.funcs.push(cand);
        }
        let mut funcs = std::mem::take(&mut self.funcs);
        for f in &mut funcs {
            let mut ext = Vec::new();
            for &(w, die) in &f.proto_fixups {
                match self.resolve_local(die) {
                    Some(id) => f.proto[w as usize] = id,
                    None => ext.push((w, die)),
                }
            }
            f.proto_fixups = ext;
        }
        Ok(CuTypes {
            name: self.cu_name,
            btf: self.out,
            externals,
            die_map: self.die_map,
            funcs,
            vars: self.vars,
            skipped: false,
            index_words,
            int_id: self.int_id,
        })
    }
}

/// Bit offset and bitfield size of a member: DWARF 5 `data_bit_offset`, or DWARF 4
/// `bit_offset`, which counts from the most significant bit of a `byte_size` storage unit.
fn member_bits(m: &Attrs<'_>) -> (u32, u32) {
    let byte_off = m.member_location.unwrap_or(0);
    let (off, size) = match (m.bit_size, m.data_bit_offset, m.bit_offset) {
        (Some(bs), Some(dbo), _) => (dbo, bs),
        (Some(bs), None, Some(bo)) => {
            let storage = m.byte_size.unwrap_or(0) * 8;
            (byte_off * 8 + storage.saturating_sub(bo + bs), bs)
        }
        (Some(bs), None, None) => (byte_off * 8, bs),
        (None, Some(dbo), _) => (dbo, 0),
        (None, None, _) => (byte_off * 8, 0),
    };
    (off as u32, size as u32)
}

/// `DW_AT_data_member_location` given as an expression: gcc's `DW_OP_plus_uconst N`.
fn member_location_expr(e: gimli::Expression<R<'_>>) -> Option<u64> {
    let b = e.0.slice();
    if b.first() == Some(&0x23) {
        // DW_OP_plus_uconst, ULEB128 operand
        let mut v = 0u64;
        let mut shift = 0;
        for &byte in &b[1..] {
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(v);
            }
            shift += 7;
        }
    }
    None
}
