/* SPDX-License-Identifier: GPL-2.0 */
/*
 * btf_ids_test.h: the .BTF_ids layout of the kernel's include/linux/btf_ids.h, for test objects.
 *
 * Written for btfbuild's tests; it emits the same section, symbol names, symbol sizes and data
 * as the kernel's macros so that resolve_btfids (the kernel's and ours) sees the same input:
 *
 *   BTF_ID(kind, name)            4-byte slot, local STT_OBJECT symbol of size 4 named
 *                                 __BTF_ID__<kind>__<name>__<counter><line>
 *   BTF_ID_FLAGS(kind, name[, f]) the same slot followed by a 4-byte flags word (default 0)
 *   BTF_ID_UNUSED                 4 zero bytes, no symbol
 *   BTF_ID_LIST(list)             label 'list' at the current position (no data)
 *   BTF_SET_START(s)/END(s)       label 's' and symbol __BTF_ID__set__s on a 4-byte count;
 *                                 END sizes that symbol to 4 + 4 * members
 *   BTF_SET8_START(s)/END(s)      label 's' and symbol __BTF_ID__set8__s on a count and a flags
 *                                 word; END sizes it to 8 + 8 * members
 *   BTF_KFUNCS_START(s)/END(s)    a set8 whose flags word is BTF_SET8_KFUNCS
 *
 * Everything goes through top-level asm, so the layout is exactly what the assembler is told.
 */
#ifndef BTFBUILD_BTF_IDS_TEST_H
#define BTFBUILD_BTF_IDS_TEST_H

typedef unsigned int btft_u32;

struct btf_id_set {
	btft_u32 cnt;
	btft_u32 ids[];
};

#define BTF_SET8_KFUNCS (1 << 0)

struct btf_id_set8 {
	btft_u32 cnt;
	btft_u32 flags;
	struct {
		btft_u32 id;
		btft_u32 flags;
	} pairs[];
};

/* token pasting and stringification that expand their arguments first */
#define BTFT_JOIN_(a, b) a##b
#define BTFT_JOIN(a, b) BTFT_JOIN_(a, b)
#define BTFT_STR_(x) #x
#define BTFT_STR(x) BTFT_STR_(x)

/* a unique symbol name: the prefix, then __COUNTER__, then __LINE__ (as the kernel pastes them) */
#define BTFT_UNIQUE(prefix) BTFT_JOIN(BTFT_JOIN(prefix, __COUNTER__), __LINE__)

#define BTFT_SECTION ".BTF_ids"

/* one slot: a local 4-byte object symbol on 4 zero bytes, then 'tail' (more data, or nothing) */
#define BTFT_SLOT_(sym, tail)                                   \
	asm(".pushsection " BTFT_SECTION ",\"a\"\n"             \
	    ".local " #sym "\n"                                 \
	    ".type " #sym ", STT_OBJECT\n"                      \
	    ".size " #sym ", 4\n"                               \
	    #sym ":\n"                                          \
	    ".zero 4\n"                                         \
	    tail                                                \
	    ".popsection\n");
#define BTFT_SLOT(sym, tail) BTFT_SLOT_(sym, tail)

#define BTF_ID(kind, name) BTFT_SLOT(BTFT_UNIQUE(__BTF_ID__##kind##__##name##__), "")

/* the flags argument is macro-expanded before it is stringified into the .long */
#define BTFT_ID_FLAGS_(kind, name, flags) \
	BTFT_SLOT(BTFT_UNIQUE(__BTF_ID__##kind##__##name##__), ".long " #flags "\n")
#define BTFT_ID_FLAGS(kind, name, flags, ...) BTFT_ID_FLAGS_(kind, name, flags)
#define BTF_ID_FLAGS(kind, name, ...) BTFT_ID_FLAGS(kind, name, ##__VA_ARGS__, 0)

#define BTF_ID_UNUSED                                           \
	asm(".pushsection " BTFT_SECTION ",\"a\"\n"             \
	    ".zero 4\n"                                         \
	    ".popsection\n");

#define BTFT_LABEL(name, scope)                                 \
	asm(".pushsection " BTFT_SECTION ",\"a\"\n"             \
	    "." #scope " " #name "\n"                           \
	    #name ":\n"                                         \
	    ".popsection\n");

#define BTF_ID_LIST(name) BTFT_LABEL(name, local) extern btft_u32 name[];
#define BTF_ID_LIST_GLOBAL(name, n) BTFT_LABEL(name, globl)
#define BTF_ID_LIST_SINGLE(name, kind, typename) BTF_ID_LIST(name) BTF_ID(kind, typename)

#define BTFT_SET_HEAD(name, scope)                              \
	asm(".pushsection " BTFT_SECTION ",\"a\"\n"             \
	    "." #scope " __BTF_ID__set__" #name "\n"            \
	    "__BTF_ID__set__" #name ":\n"                       \
	    ".zero 4\n"                                         \
	    ".popsection\n");

#define BTF_SET_START(name) BTFT_LABEL(name, local) BTFT_SET_HEAD(name, local)
#define BTF_SET_START_GLOBAL(name) BTFT_LABEL(name, globl) BTFT_SET_HEAD(name, globl)
#define BTF_SET_END(name)                                       \
	asm(".pushsection " BTFT_SECTION ",\"a\"\n"             \
	    ".size __BTF_ID__set__" #name ", .-" #name "\n"     \
	    ".popsection\n");                                   \
	extern struct btf_id_set name;

#define BTFT_SET8_HEAD(name, scope, flags)                      \
	BTFT_LABEL(name, local)                                 \
	asm(".pushsection " BTFT_SECTION ",\"a\"\n"             \
	    "." #scope " __BTF_ID__set8__" #name "\n"           \
	    "__BTF_ID__set8__" #name ":\n"                      \
	    ".zero 4\n"                                         \
	    ".long " BTFT_STR(flags) "\n"                       \
	    ".popsection\n");

#define BTF_SET8_START(name) BTFT_SET8_HEAD(name, local, 0)
#define BTF_SET8_END(name)                                      \
	asm(".pushsection " BTFT_SECTION ",\"a\"\n"             \
	    ".size __BTF_ID__set8__" #name ", .-" #name "\n"    \
	    ".popsection\n");                                   \
	extern struct btf_id_set8 name;

#define BTF_KFUNCS_START(name) BTFT_SET8_HEAD(name, local, BTF_SET8_KFUNCS)
#define BTF_KFUNCS_END(name) BTF_SET8_END(name)

#endif /* BTFBUILD_BTF_IDS_TEST_H */
