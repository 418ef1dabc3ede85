/* Encoder test corpus: every BTF kind and the corners pahole handles specially.
 * Compiled by the tests with gcc and clang (-g, DWARF 4 and 5), encoded by pahole 1.30 and by
 * btfbuild, and compared by structure. */
#include <stddef.h>

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;
typedef signed char s8;
typedef long long s64;

enum small_enum { SE_A, SE_B = 3 } __attribute__((packed));
enum signed_enum { NEG = -5, POS = 7 };
enum unsigned_big { UB_MAX = 0xffffffffu };
enum wide_enum { WIDE = 0x123456789ULL, WIDE_MAX = 0xffffffffffffffffULL };
enum swide_enum { SWIDE_NEG = -0x123456789LL, SWIDE_POS = 1 };

struct bits {
	u32 a : 3;
	u32 b : 5;
	u32 c : 24;
	u8 d : 1;
	u64 e : 33;
	int f : 7;
	enum small_enum g : 4;
	_Bool h : 1;
};

struct flex {
	u32 len;
	u8 data[];
};

struct nested {
	union {
		struct {
			u16 lo, hi;
		};
		u32 word;
	};
	struct {
		int x;
	} named_anon;
	struct nested *next;
	const volatile u32 *cvp;
	int matrix[3][4];
	char *strings[8];
	void (*callback)(struct nested *self, int code, ...);
	int (*table[2])(void);
	float f;
	double d;
	long double ld;
	struct flex *flex;
} __attribute__((aligned(16)));

struct packed_s {
	u8 a;
	u32 b;
	u16 c;
} __attribute__((packed));

union u_all {
	s8 a;
	s64 b;
	struct bits bits;
};

struct opaque;
struct uses_opaque {
	struct opaque *o;
	enum signed_enum se;
	enum unsigned_big ub;
	enum wide_enum we;
	enum swide_enum swe;
};

typedef int (*handler_t)(struct uses_opaque *, union u_all *);
typedef struct {
	handler_t h;
	size_t n;
} anon_typedef_t;

/* per-CPU variables as the kernel declares them */
__attribute__((section(".data..percpu"))) struct nested percpu_nested;
__attribute__((section(".data..percpu"))) static u64 percpu_counter;
__attribute__((section(".data..percpu"))) int percpu_array[4];

int global_plain;
static struct packed_s static_packed;
anon_typedef_t anon_global;

__attribute__((noinline)) int use_bits(struct bits *b, union u_all *u)
{
	return b->a + b->f + (int)u->b + (int)percpu_counter;
}

__attribute__((noinline)) static u64 sum_flex(const struct flex *f)
{
	u64 s = 0;
	for (u32 i = 0; i < f->len; i++)
		s += f->data[i];
	return s;
}

__attribute__((noinline)) int varargs(int n, ...)
{
	return n;
}

__attribute__((noinline)) void takes_everything(struct nested *n, struct uses_opaque *o,
						 anon_typedef_t *t, handler_t h, enum wide_enum w)
{
	n->next = n;
	o->we = w;
	t->h = h;
	static_packed.b = (u32)sum_flex(n->flex);
}

int entry(struct nested *n)
{
	return use_bits((struct bits *)n, (union u_all *)n) + varargs(1, 2) + global_plain +
	       percpu_array[1] + (int)percpu_nested.d;
}
