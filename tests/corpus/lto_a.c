/* With gcc -flto, the types of this unit and lto_b.c end up in DWARF that refers across
 * compile units (DW_FORM_ref_addr). */
struct shared {
	int x;
	long y[3];
	struct shared *next;
};

struct only_a {
	char c;
};

extern int use_b(struct shared *s);

int use_a(struct shared *s, struct only_a *o)
{
	return s->x + o->c + use_b(s);
}
