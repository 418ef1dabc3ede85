// SPDX-License-Identifier: GPL-2.0
/*
 * btfbuild_kfunc: registers a kfunc set at load. The set's BTF ids are filled in at build time by
 * resolve_btfids (-b vmlinux); register_btf_kfunc_id_set() then checks that each one names a
 * FUNC in this module's BTF, so a wrong id or missing module BTF makes the load fail.
 */
#include <linux/bpf.h>
#include <linux/btf.h>
#include <linux/btf_ids.h>
#include <linux/module.h>
#include <linux/sched.h>

/*
 * Older kernels (Debian's 6.1, for example) lack the kfunc annotations; fall back to what they
 * did then. 6.12 defines all of these, so nothing below changes a build against it.
 */
#ifndef __bpf_kfunc			/* 6.5 */
#define __bpf_kfunc __used noinline
#endif
#ifndef __bpf_kfunc_start_defs		/* 6.7: silences -Wmissing-prototypes for the kfuncs */
#define __bpf_kfunc_start_defs()
#define __bpf_kfunc_end_defs()
#endif
#ifndef BTF_KFUNCS_START		/* 6.9: a set8 flagged as a kfunc set */
#define BTF_KFUNCS_START(name) BTF_SET8_START(name)
#define BTF_KFUNCS_END(name) BTF_SET8_END(name)
#endif

__bpf_kfunc_start_defs();

__bpf_kfunc int btfbuild_kfunc_add(int a, int b)
{
	return a + b;
}

__bpf_kfunc pid_t btfbuild_kfunc_task_pid(struct task_struct *task)
{
	return task ? task->pid : -1;
}

__bpf_kfunc_end_defs();

/* Linux 7.x dropped the flag: trusted arguments are what every kfunc gets there. */
#ifndef KF_TRUSTED_ARGS
#define KF_TRUSTED_ARGS 0
#endif

BTF_KFUNCS_START(btfbuild_kfunc_ids)
BTF_ID_FLAGS(func, btfbuild_kfunc_add)
BTF_ID_FLAGS(func, btfbuild_kfunc_task_pid, KF_TRUSTED_ARGS)
BTF_KFUNCS_END(btfbuild_kfunc_ids)

static const struct btf_kfunc_id_set btfbuild_kfunc_set = {
	.owner = THIS_MODULE,
	.set = &btfbuild_kfunc_ids,
};

static int __init btfbuild_kfunc_init(void)
{
	int err = register_btf_kfunc_id_set(BPF_PROG_TYPE_SYSCALL, &btfbuild_kfunc_set);

	if (err)
		pr_err("btfbuild_kfunc: register_btf_kfunc_id_set: %d\n", err);
	else
		pr_info("btfbuild_kfunc: kfunc set registered\n");
	return err;
}

static void __exit btfbuild_kfunc_exit(void)
{
}

module_init(btfbuild_kfunc_init);
module_exit(btfbuild_kfunc_exit);
MODULE_DESCRIPTION("btfbuild e2e test: a kfunc set resolved by resolve_btfids");
MODULE_LICENSE("GPL");
