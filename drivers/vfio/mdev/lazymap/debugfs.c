// SPDX-License-Identifier: GPL-2.0
/*
 * lazymap-mdev debugfs: lazymap-mdev/<uuid>/revoke, a fault-injection knob
 * that takes BAR2 away from its users as a device losing its memory would.
 * Reading gives 0 or 1; writing 1 revokes BAR2 (mapped accesses SIGBUS,
 * region reads and writes fail with -EIO), writing 0 lifts the knob's
 * revocation (BAR2 stays revoked while memory decoding is off).  Anything
 * else is -EINVAL.
 *
 * A device's directory is created by the mdev probe and removed by the
 * mdev remove before the device is unregistered; debugfs_remove() waits
 * for readers and writers, so a knob never outlives its device.
 */
#include <linux/debugfs.h>
#include <linux/fs.h>
#include <linux/kstrtox.h>
#include <linux/uaccess.h>

#include "lazymap_mdev.h"

static struct dentry *lazymap_mdev_debugfs_root;

static ssize_t lazymap_mdev_revoke_read(struct file *file, char __user *ubuf,
					size_t count, loff_t *ppos)
{
	struct lazymap_mdev *ld = file->private_data;
	char buf[4];
	int len;

	mutex_lock(&ld->lock);
	len = scnprintf(buf, sizeof(buf), "%d\n", ld->knob_revoked);
	mutex_unlock(&ld->lock);
	return simple_read_from_buffer(ubuf, count, ppos, buf, len);
}

static ssize_t lazymap_mdev_revoke_write(struct file *file,
					 const char __user *ubuf,
					 size_t count, loff_t *ppos)
{
	struct lazymap_mdev *ld = file->private_data;
	unsigned int val;
	int ret;

	/* Out of range (-ERANGE from the parser too) is invalid input. */
	if (kstrtouint_from_user(ubuf, count, 0, &val) || val > 1)
		return -EINVAL;

	mutex_lock(&ld->lock);
	ret = lazymap_mdev_mem_sync(ld, lazymap_mdev_mem_enabled(ld), val);
	if (!ret)
		ld->knob_revoked = val;
	mutex_unlock(&ld->lock);
	return ret ?: count;
}

static const struct file_operations lazymap_mdev_revoke_fops = {
	.owner = THIS_MODULE,
	.open = simple_open,
	.read = lazymap_mdev_revoke_read,
	.write = lazymap_mdev_revoke_write,
	.llseek = default_llseek,
};

void lazymap_mdev_debugfs_add(struct lazymap_mdev *ld)
{
	struct dentry *dir;
	char name[40];

	if (!lazymap_mdev_debugfs_root)
		return;
	snprintf(name, sizeof(name), "%pUl", &ld->mdev->uuid);
	dir = debugfs_create_dir(name, lazymap_mdev_debugfs_root);
	if (IS_ERR(dir))
		return;
	ld->debugfs = dir;
	debugfs_create_file("revoke", 0600, dir, ld, &lazymap_mdev_revoke_fops);
}

void lazymap_mdev_debugfs_remove(struct lazymap_mdev *ld)
{
	debugfs_remove(ld->debugfs);
	ld->debugfs = NULL;
}

void lazymap_mdev_debugfs_init(void)
{
	struct dentry *root = debugfs_create_dir(LAZYMAP_MDEV_NAME, NULL);

	lazymap_mdev_debugfs_root = IS_ERR(root) ? NULL : root;
}

void lazymap_mdev_debugfs_exit(void)
{
	debugfs_remove(lazymap_mdev_debugfs_root);
	lazymap_mdev_debugfs_root = NULL;
}
