"""pahole's BTF encoding features (``--btf_features``) and the older flags that set them.

Names and meanings as pahole 1.30 defines them. Without ``--btf_features`` pahole starts from its
historical defaults (variables, decl/type tags and enum64 on; floats, optimized and consistent
function handling off); the old ``--btf_gen_*``/``--skip_encoding_*`` flags switch single
features. ``--btf_features=LIST`` instead enables exactly LIST, where ``default`` stands for the
standard set, ``all`` for every feature, and a LIST starting with ``+`` adds to what is enabled.
Several ``--btf_features`` options apply in order. Unknown names are ignored unless
``--btf_features_strict`` is given, as pahole does.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from .errors import BtfbuildError

#: name -> what it does (``--supported_btf_features`` prints the names in this order)
SUPPORTED = {
    "encode_force": "ignore invalid symbols when encoding",
    "var": "encode variables (per-CPU ones, or all globals with global_var)",
    "float": "encode floating-point types as FLOAT rather than INT",
    "decl_tag": "encode btf_decl_tag annotations as DECL_TAG",
    "type_tag": "encode btf_type_tag annotations as TYPE_TAG",
    "enum64": "encode enums wider than 32 bits as ENUM64",
    "optimized_func": "encode functions whose signature the compiler optimized (.isra, .constprop)",
    "consistent_func": "skip functions whose prototypes differ between compile units",
    "decl_tag_kfuncs": "tag kfuncs of .BTF_ids kfunc sets with DECL_TAG bpf_kfunc "
                       "(and bpf_fastcall)",
    "reproducible_build": "identical output whatever -j is (always true here)",
    "distilled_base": "with --btf_base: emit a distilled .BTF.base for the module",
    "global_var": "encode all global variables, not only per-CPU ones",
}

STANDARD = ("encode_force", "var", "float", "decl_tag", "type_tag", "enum64", "optimized_func",
            "consistent_func", "decl_tag_kfuncs")


@dataclass
class Features:
    encode_force: bool = False
    var: bool = True
    float: bool = False
    decl_tag: bool = True
    type_tag: bool = True
    enum64: bool = True
    optimized_func: bool = False
    consistent_func: bool = False
    decl_tag_kfuncs: bool = False
    reproducible_build: bool = False
    distilled_base: bool = False
    global_var: bool = False

    def enabled(self) -> list[str]:
        return [f.name for f in fields(self) if getattr(self, f.name)]

    def apply(self, spec: str, *, strict: bool = False) -> None:
        """Apply one ``--btf_features`` value: LIST replaces the enabled set, +LIST adds to it
        (kbuild passes a second ``--btf_features=+reproducible_build`` after the first)."""
        names = [n.strip() for n in spec.split(",") if n.strip()]
        if spec.startswith("+"):
            names[0] = names[0][1:]
        else:
            for f in fields(self):
                setattr(self, f.name, False)
        for name in names:
            if name == "default":
                for n in STANDARD:
                    setattr(self, n, True)
            elif name == "all":
                for n in SUPPORTED:
                    setattr(self, n, True)
            elif name in SUPPORTED:
                setattr(self, name, True)
            elif strict:
                raise BtfbuildError(f"unknown BTF feature '{name}'; supported: "
                                    + ",".join(SUPPORTED))
