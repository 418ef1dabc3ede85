"""pahole's BTF encoding features (``--btf_features``) and the older flags that set them.

Names and meanings as pahole 1.30 defines them. Without ``--btf_features`` pahole starts from its
historical defaults (variables, decl/type tags and enum64 on; floats, optimized and consistent
function handling off); the old ``--btf_gen_*``/``--skip_encoding_*`` flags switch single
features. ``--btf_features=LIST`` instead enables exactly LIST, where ``default`` stands for the
standard set and ``all`` for every feature. Given several times, the lists add up: the first one
starts from no feature at all, later ones only switch more on (kbuild passes
``--btf_features=distilled_base`` for ``M=`` modules, and kernels 7.x ``--btf_features=attributes``,
after its main list). A LIST starting with ``+`` adds to what is enabled even as the first.
Unknown names are ignored unless ``--btf_features_strict`` is given, as pahole does.
"""

from __future__ import annotations

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


#: pahole's historical defaults: what is enabled without any --btf_features
_DEFAULTS = ("var", "decl_tag", "type_tag", "enum64")


class Features:
    """The enabled features, one bool attribute each. (A plain class, not a dataclass: the
    ``dataclasses`` import alone costs ~5 ms, 6% of encoding a small module.)"""

    __slots__ = (*SUPPORTED, "_listed")
    encode_force: bool
    var: bool
    float: bool
    decl_tag: bool
    type_tag: bool
    enum64: bool
    optimized_func: bool
    consistent_func: bool
    decl_tag_kfuncs: bool
    reproducible_build: bool
    distilled_base: bool
    global_var: bool

    def __init__(self, **enabled: bool) -> None:
        self._listed = False  # a --btf_features list has replaced the historical defaults
        for name in SUPPORTED:
            setattr(self, name, name in _DEFAULTS)
        for name, on in enabled.items():
            if name not in SUPPORTED:
                raise TypeError(f"unknown feature {name!r}")
            setattr(self, name, on)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Features):
            return NotImplemented
        return self.enabled() == other.enabled()

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"Features({', '.join(f'{n}=True' for n in self.enabled())})"

    def enabled(self) -> list[str]:
        return [name for name in SUPPORTED if getattr(self, name)]

    def apply(self, spec: str, *, strict: bool = False) -> None:
        """Apply one ``--btf_features`` value: the first LIST replaces the historical defaults,
        every later one (and any +LIST) adds to what is enabled, as in pahole 1.30."""
        names = [n.strip() for n in spec.split(",") if n.strip()]
        if spec.startswith("+"):
            names[0] = names[0][1:]
        elif not self._listed:
            for n in SUPPORTED:
                setattr(self, n, False)
            self._listed = True
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
