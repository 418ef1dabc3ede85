// SPDX-License-Identifier: GPL-2.0
/*
 * btfbuild_skb: a module whose BTF refers to a vmlinux type (struct sk_buff). Its one exported
 * function gets a BTF FUNC; with a distilled base (--btf_features=distilled_base, as kbuild asks
 * for external modules) struct sk_buff lands in .BTF.base and the kernel relocates it at load.
 */
#include <linux/module.h>
#include <linux/skbuff.h>

noinline int btfbuild_skb_len(struct sk_buff *skb)
{
	return skb ? (int)skb->len : -1;
}
EXPORT_SYMBOL_GPL(btfbuild_skb_len);

static int __init btfbuild_skb_init(void)
{
	pr_info("btfbuild_skb: loaded\n");
	return 0;
}

static void __exit btfbuild_skb_exit(void)
{
}

module_init(btfbuild_skb_init);
module_exit(btfbuild_skb_exit);
MODULE_DESCRIPTION("btfbuild e2e test: module BTF referring to struct sk_buff");
MODULE_LICENSE("GPL");
