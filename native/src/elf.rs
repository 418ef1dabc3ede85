//! The ELF side of encoding: mapping the file, pulling out (and decompressing) the DWARF
//! sections, applying the relocations of relocatable objects, and the symbol table.
//!
//! vmlinux is ET_EXEC: its `.rela.debug_*` sections come from `--emit-relocs` and the section
//! contents are already final, so they must not be applied again. Modules and objects are ET_REL:
//! their debug sections are only meaningful with relocations applied.

use object::{Object, ObjectKind, ObjectSection, ObjectSymbol, RelocationTarget, SymbolKind};
use std::borrow::Cow;
use std::collections::HashMap;

pub struct Symbol<'a> {
    pub name: &'a [u8],
    pub address: u64,
    pub size: u64,
    pub section: Option<usize>,
    pub is_func: bool,
    pub is_object: bool,
}

pub struct Elf<'a> {
    pub file: object::File<'a>,
    /// the whole file
    pub data: &'a [u8],
    pub big_endian: bool,
    pub relocatable: bool,
    pub sections: HashMap<String, Cow<'a, [u8]>>,
}

const DEBUG_SECTIONS: &[&str] = &[
    ".debug_info", ".debug_abbrev", ".debug_str", ".debug_line_str", ".debug_str_offsets",
    ".debug_addr", ".debug_types", ".debug_rnglists", ".debug_ranges", ".debug_line",
    ".debug_loc", ".debug_loclists",
];

impl<'a> Elf<'a> {
    pub fn parse(data: &'a [u8]) -> Result<Self, String> {
        let file = object::File::parse(data).map_err(|e| format!("not a valid ELF file: {e}"))?;
        if file.format() != object::BinaryFormat::Elf {
            return Err("not an ELF file".into());
        }
        let relocatable = file.kind() == ObjectKind::Relocatable;
        let big_endian = !file.is_little_endian();
        let mut sections = HashMap::new();
        for name in DEBUG_SECTIONS {
            if let Some(sec) = file.section_by_name(name) {
                let data = sec
                    .uncompressed_data()
                    .map_err(|e| format!("section {name}: cannot read or decompress: {e}"))?;
                sections.insert((*name).to_string(), data);
            }
        }
        let mut elf = Elf { file, data, big_endian, relocatable, sections };
        if relocatable {
            elf.apply_relocations()?;
        }
        Ok(elf)
    }

    /// File offset of debug section `name`, when it is read in place (neither compressed nor
    /// relocated).
    pub fn file_offset(&self, name: &str) -> Option<usize> {
        match self.sections.get(name)? {
            Cow::Borrowed(s) => {
                let off = (s.as_ptr() as usize).checked_sub(self.data.as_ptr() as usize)?;
                (off + s.len() <= self.data.len()).then_some(off)
            }
            Cow::Owned(_) => None,
        }
    }

    pub fn section_data(&self, name: &str) -> &[u8] {
        self.sections.get(name).map_or(&[], |c| c.as_ref())
    }

    /// Resolve each debug section's relocations in place (ET_REL only): symbol value + addend,
    /// written with the relocation's width.
    fn apply_relocations(&mut self) -> Result<(), String> {
        let names: Vec<String> = self.sections.keys().cloned().collect();
        for name in names {
            let Some(sec) = self.file.section_by_name(&name) else { continue };
            let relocs: Vec<(u64, object::Relocation)> = sec.relocations().collect();
            if relocs.is_empty() {
                continue;
            }
            let mut fixups = Vec::with_capacity(relocs.len());
            for (offset, r) in relocs {
                let base = match r.target() {
                    RelocationTarget::Symbol(idx) => self
                        .file
                        .symbol_by_index(idx)
                        .map_err(|e| format!("section {name}: bad relocation symbol: {e}"))?
                        .address(),
                    RelocationTarget::Absolute => 0,
                    _ => continue,
                };
                let value = base.wrapping_add_signed(r.addend());
                fixups.push((offset as usize, r.size(), value));
            }
            let big = self.big_endian;
            let data = self.sections.get_mut(&name).expect("section present").to_mut();
            for (off, bits, value) in fixups {
                let width = usize::from(bits / 8);
                if width == 0 || off + width > data.len() {
                    return Err(format!("section {name}: relocation at {off:#x} outside the section"));
                }
                let bytes = if big { value.to_be_bytes() } else { value.to_le_bytes() };
                let src = if big { &bytes[8 - width..] } else { &bytes[..width] };
                data[off..off + width].copy_from_slice(src);
            }
        }
        Ok(())
    }

    pub fn symbols(&self) -> Vec<Symbol<'a>> {
        self.file
            .symbols()
            .filter_map(|s| {
                let name = s.name_bytes().ok()?;
                if name.is_empty() {
                    return None;
                }
                Some(Symbol {
                    name,
                    address: s.address(),
                    size: s.size(),
                    section: s.section_index().map(|i| i.0),
                    is_func: s.kind() == SymbolKind::Text,
                    is_object: s.kind() == SymbolKind::Data,
                })
            })
            .collect()
    }
}

/// One entry of the section header table, as pahole's variable encoding looks at it.
pub struct SectionInfo<'a> {
    pub index: usize,
    pub name: &'a [u8],
    pub sh_type: u32,
    pub addr: u64,
    pub size: u64,
}

fn section_infos_of<H: object::read::elf::FileHeader<Endian = object::Endianness>>(
    data: &[u8],
) -> Result<Vec<SectionInfo<'_>>, String> {
    use object::read::elf::SectionHeader as _;
    let header = H::parse(data).map_err(|e| format!("ELF header: {e}"))?;
    let endian = header.endian().map_err(|e| format!("ELF header: {e}"))?;
    let table = header.sections(endian, data).map_err(|e| format!("section headers: {e}"))?;
    Ok(table
        .iter()
        .enumerate()
        .map(|(index, s)| SectionInfo {
            index,
            name: table.section_name(endian, s).unwrap_or(b""),
            sh_type: s.sh_type(endian),
            addr: s.sh_addr(endian).into(),
            size: s.sh_size(endian).into(),
        })
        .collect())
}

/// The section header table of the ELF file `data` (index 0 included).
pub fn section_infos(data: &[u8]) -> Result<Vec<SectionInfo<'_>>, String> {
    if data.get(4) == Some(&object::elf::ELFCLASS64) {
        section_infos_of::<object::elf::FileHeader64<object::Endianness>>(data)
    } else {
        section_infos_of::<object::elf::FileHeader32<object::Endianness>>(data)
    }
}
