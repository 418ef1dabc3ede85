/* Arrays in a compile unit without an `int`: BTF still needs an array index type. */
struct no_int_here {
	char tag[4];
	unsigned char bytes[2][3];
};

struct no_int_here first_cu_var;
