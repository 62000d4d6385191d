/* Taps for domain NICs: persistent taps created before atoll-vmm starts
 * (it opens them by name, `--net tap=NAME`), enslaved to a libvirt
 * network's bridge, and deleted after the VMM exits.  Plain ioctls and one
 * rtnetlink message; no library. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define TAP_FLAGS (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR)

/* ---- names ------------------------------------------------------------- */

static guint32 fnv1a(const char *s)
{
	guint32 h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (guint8)*s) * 16777619u;
	return h;
}

char *atoll_tap_name(const char *domain, unsigned index)
{
	char suffix[16];
	int room;
	char *full;

	snprintf(suffix, sizeof(suffix), "-%u", index);
	full = g_strdup_printf("atl-%s%s", domain, suffix);
	if (strlen(full) < IFNAMSIZ)
		return full;
	g_free(full);
	/* Two long names sharing a prefix must not collide, so the cut
	 * domain part ends in a hash of the whole name. */
	room = IFNAMSIZ - 1 - 4 - (int)strlen(suffix) - 4;
	if (room < 0)
		room = 0;
	return g_strdup_printf("atl-%.*s%04x%s", room, domain,
			       fnv1a(domain) & 0xffff, suffix);
}

static bool ifname_ok(const char *name, GError **error)
{
	size_t len = name ? strlen(name) : 0;

	if (len == 0 || len >= IFNAMSIZ || strchr(name, '/') ||
	    strchr(name, ':') || strpbrk(name, " \t\n") ||
	    !strcmp(name, ".") || !strcmp(name, "..")) {
		g_set_error(error, ATOLL_LIBVIRT_ERROR, ATOLL_LIBVIRT_ERROR_INVALID,
			    "'%s' is not a valid interface name — use 1 to %d "
			    "characters without '/', ':' or spaces",
			    name ? name : "", IFNAMSIZ - 1);
		return false;
	}
	return true;
}

/* ---- ioctl helpers ------------------------------------------------------ */

static void ifr_set_name(struct ifreq *ifr, const char *name)
{
	memset(ifr, 0, sizeof(*ifr));
	memcpy(ifr->ifr_name, name, strlen(name));   /* < IFNAMSIZ, checked */
}

static int ctl_socket(GError **error)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (s < 0)
		g_set_error(error, ATOLL_LIBVIRT_ERROR, ATOLL_LIBVIRT_ERROR_HOST,
			    "cannot open a socket for interface ioctls: %s",
			    g_strerror(errno));
	return s;
}

static void tun_error(const char *name, int e, GError **error)
{
	const char *what;
	int code = ATOLL_LIBVIRT_ERROR_HOST;

	switch (e) {
	case ENOENT: case ENODEV: case ENXIO:
		what = "/dev/net/tun is missing — load the tun module "
		       "(`modprobe tun`)";
		break;
	case EPERM: case EACCES:
		what = "permission denied — atolld needs root (CAP_NET_ADMIN) "
		       "to create taps";
		break;
	case EBUSY:
		what = "it is in use by another process — stop the VMM that "
		       "still holds it";
		break;
	case EINVAL:
		what = "an interface of that name exists and is not a tap — "
		       "rename or delete it (`ip link del`)";
		code = ATOLL_LIBVIRT_ERROR_INVALID;
		break;
	default:
		what = g_strerror(e);
		break;
	}
	g_set_error(error, ATOLL_LIBVIRT_ERROR, code, "cannot create tap %s: %s",
		    name, what);
}

/* Open /dev/net/tun attached to tap `name`, creating it if needed. */
static int tun_attach(const char *name, GError **error)
{
	struct ifreq ifr;
	int fd, e;

	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		tun_error(name, errno, error);
		return -1;
	}
	ifr_set_name(&ifr, name);
	ifr.ifr_flags = TAP_FLAGS;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		e = errno;
		close(fd);
		tun_error(name, e, error);
		return -1;
	}
	return fd;
}

static bool set_persist(int fd, const char *name, bool on, GError **error)
{
	if (ioctl(fd, TUNSETPERSIST, on ? 1UL : 0UL) < 0) {
		g_set_error(error, ATOLL_LIBVIRT_ERROR, ATOLL_LIBVIRT_ERROR_HOST,
			    "cannot make tap %s %spersistent: %s", name,
			    on ? "" : "non-", g_strerror(errno));
		return false;
	}
	return true;
}

/* fe:xx:xx:xx:xx:xx from the guest's MAC: a bridge takes the lowest port
 * address as its own unless told otherwise, and 0xfe never wins. */
static bool set_tap_mac(int s, const char *name, const char *guest_mac,
			GError **error)
{
	unsigned m[6];
	struct ifreq ifr;

	if (sscanf(guest_mac, "%2x:%2x:%2x:%2x:%2x:%2x", &m[0], &m[1], &m[2],
		   &m[3], &m[4], &m[5]) != 6 || strlen(guest_mac) != 17) {
		g_set_error(error, ATOLL_LIBVIRT_ERROR, ATOLL_LIBVIRT_ERROR_INVALID,
			    "MAC address '%s' is invalid — use the form "
			    "52:54:00:12:34:56", guest_mac);
		return false;
	}
	ifr_set_name(&ifr, name);
	ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
	ifr.ifr_hwaddr.sa_data[0] = (char)0xfe;
	for (int i = 1; i < 6; i++)
		ifr.ifr_hwaddr.sa_data[i] = (char)m[i];
	if (ioctl(s, SIOCSIFHWADDR, &ifr) < 0) {
		g_set_error(error, ATOLL_LIBVIRT_ERROR, ATOLL_LIBVIRT_ERROR_HOST,
			    "cannot set the address of tap %s: %s", name,
			    g_strerror(errno));
		return false;
	}
	return true;
}

/* A tap smaller than its bridge would lower the bridge's MTU. */
static void copy_bridge_mtu(int s, const char *tap, const char *bridge)
{
	struct ifreq ifr;
	int mtu;

	ifr_set_name(&ifr, bridge);
	if (ioctl(s, SIOCGIFMTU, &ifr) < 0)
		return;   /* enslaving reports a missing bridge */
	mtu = ifr.ifr_mtu;
	ifr_set_name(&ifr, tap);
	ifr.ifr_mtu = mtu;
	(void)ioctl(s, SIOCSIFMTU, &ifr);
}

static bool link_up(int s, const char *name, GError **error)
{
	struct ifreq ifr;

	ifr_set_name(&ifr, name);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) == 0) {
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(s, SIOCSIFFLAGS, &ifr) == 0)
			return true;
	}
	g_set_error(error, ATOLL_LIBVIRT_ERROR, ATOLL_LIBVIRT_ERROR_HOST,
		    "cannot bring tap %s up: %s", name, g_strerror(errno));
	return false;
}

static bool enslave(int s, const char *tap, const char *bridge, GError **error)
{
	struct ifreq ifr;
	int e;

	ifr_set_name(&ifr, bridge);
	ifr.ifr_ifindex = (int)if_nametoindex(tap);
	if (ifr.ifr_ifindex > 0 && ioctl(s, SIOCBRADDIF, &ifr) == 0)
		return true;
	e = ifr.ifr_ifindex > 0 ? errno : ENODEV;
	if (e == ENODEV && if_nametoindex(bridge) == 0)
		g_set_error(error, ATOLL_LIBVIRT_ERROR, ATOLL_LIBVIRT_ERROR_HOST,
			    "cannot attach tap %s: bridge %s does not exist — "
			    "restart its libvirt network (`virsh net-destroy NET; "
			    "virsh net-start NET`)", tap, bridge);
	else if (e == EOPNOTSUPP || e == EINVAL || e == ENODEV)
		g_set_error(error, ATOLL_LIBVIRT_ERROR, ATOLL_LIBVIRT_ERROR_HOST,
			    "cannot attach tap %s: %s is not a Linux bridge (%s) — "
			    "check the network's <bridge name=...>", tap, bridge,
			    g_strerror(e));
	else
		g_set_error(error, ATOLL_LIBVIRT_ERROR, ATOLL_LIBVIRT_ERROR_HOST,
			    "cannot attach tap %s to bridge %s: %s", tap, bridge,
			    g_strerror(e));
	return false;
}

/* ---- create / delete ------------------------------------------------------ */

/* A fresh persistent tap.  One left from a crash is replaced rather than
 * reused, so its old bridge, address or MTU never carry over. */
static bool tap_make(const char *name, GError **error)
{
	bool existed = if_nametoindex(name) != 0;
	int fd = tun_attach(name, error);
	bool ok;

	if (fd < 0)
		return false;
	if (existed) {
		ok = set_persist(fd, name, false, error);
		close(fd);   /* a non-persistent tap goes away with its last fd */
		if (!ok)
			return false;
		fd = tun_attach(name, error);
		if (fd < 0)
			return false;
	}
	ok = set_persist(fd, name, true, error);
	close(fd);
	return ok;
}

bool atoll_tap_create(const char *ifname, const char *bridge,
		      const char *guest_mac, GError **error)
{
	GError *err = NULL;
	int s;
	bool ok;

	if (!ifname_ok(ifname, error) || (bridge && !ifname_ok(bridge, error)))
		return false;
	if (!tap_make(ifname, error))
		return false;
	s = ctl_socket(&err);
	ok = s >= 0;
	if (ok && guest_mac)
		ok = set_tap_mac(s, ifname, guest_mac, &err);
	if (ok && bridge)
		copy_bridge_mtu(s, ifname, bridge);
	if (ok)
		ok = link_up(s, ifname, &err);
	if (ok && bridge)
		ok = enslave(s, ifname, bridge, &err);
	if (s >= 0)
		close(s);
	if (!ok) {
		atoll_tap_delete(ifname, NULL);
		g_propagate_error(error, err);
	}
	return ok;
}

/* ETHTOOL_GDRVINFO says "tun" for tun and tap devices, in any network
 * namespace (unlike /sys, which shows the mounter's namespace). */
static bool is_tun_device(int s, const char *name)
{
	struct ethtool_drvinfo info = { .cmd = ETHTOOL_GDRVINFO };
	struct ifreq ifr;

	ifr_set_name(&ifr, name);
	ifr.ifr_data = (void *)&info;
	if (ioctl(s, SIOCETHTOOL, &ifr) < 0)
		return false;
	return !strcmp(info.driver, "tun");
}

/* RTM_DELLINK removes the tap even if a (dying) VMM still holds its fd,
 * which TUNSETPERSIST 0 could not. */
static int rtnl_del_link(unsigned ifindex)
{
	struct {
		struct nlmsghdr nh;
		struct ifinfomsg ifi;
	} req = {
		.nh = {
			.nlmsg_len = sizeof(req),
			.nlmsg_type = RTM_DELLINK,
			.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK,
			.nlmsg_seq = 1,
		},
		.ifi = { .ifi_family = AF_UNSPEC, .ifi_index = (int)ifindex },
	};
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	char buf[512];
	struct nlmsghdr *nh = (struct nlmsghdr *)buf;
	ssize_t n;
	int s, e = 0;

	s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (s < 0)
		return errno;
	if (sendto(s, &req, sizeof(req), 0, (struct sockaddr *)&kernel,
		   sizeof(kernel)) < 0) {
		e = errno;
	} else {
		n = recv(s, buf, sizeof(buf), 0);
		if (n < 0)
			e = errno;
		else if (!NLMSG_OK(nh, (size_t)n) || nh->nlmsg_type != NLMSG_ERROR)
			e = EPROTO;
		else
			e = -((struct nlmsgerr *)NLMSG_DATA(nh))->error;
	}
	close(s);
	return e;
}

bool atoll_tap_delete(const char *ifname, GError **error)
{
	unsigned idx;
	bool tun;
	int s, e;

	if (!ifname_ok(ifname, error))
		return false;
	idx = if_nametoindex(ifname);
	if (idx == 0)
		return true;
	s = ctl_socket(error);
	if (s < 0)
		return false;
	tun = is_tun_device(s, ifname);
	close(s);
	if (!tun) {
		g_set_error(error, ATOLL_LIBVIRT_ERROR, ATOLL_LIBVIRT_ERROR_INVALID,
			    "interface %s is not a tap; not deleting it — remove "
			    "it by hand if it is stale", ifname);
		return false;
	}
	e = rtnl_del_link(idx);
	if (e && e != ENODEV) {
		g_set_error(error, ATOLL_LIBVIRT_ERROR, ATOLL_LIBVIRT_ERROR_HOST,
			    "cannot delete tap %s: %s%s", ifname, g_strerror(e),
			    e == EPERM ? " — atolld needs root (CAP_NET_ADMIN)" : "");
		return false;
	}
	return true;
}

/* ---- NICs of a domain ------------------------------------------------------- */

char *atoll_libvirt_nic_setup(AtollLibvirt *lv, const char *domain,
			      unsigned index, const char *type,
			      const char *network, const char *mac,
			      GError **error)
{
	g_autofree char *name = NULL, *bridge = NULL;

	if (!g_strcmp0(type, "user")) {
		g_set_error(error, ATOLL_LIBVIRT_ERROR, ATOLL_LIBVIRT_ERROR_UNSUPPORTED,
			    "nics[%u]: type \"user\" (passt) is not supported yet: "
			    "atoll-vmm has no stream-socket network backend, which "
			    "passt needs — use {\"type\": \"network\", \"network\": "
			    "\"default\"} instead", index);
		return NULL;
	}
	if (g_strcmp0(type, "network") && g_strcmp0(type, "isolated")) {
		g_set_error(error, ATOLL_LIBVIRT_ERROR, ATOLL_LIBVIRT_ERROR_INVALID,
			    "nics[%u]: unknown type \"%s\" — use \"network\", "
			    "\"isolated\" or \"user\"", index, type ? type : "");
		return NULL;
	}
	if (!g_strcmp0(type, "network")) {
		bridge = atoll_libvirt_network_bridge(lv, network, error);
		if (!bridge)
			return NULL;
	}
	name = atoll_tap_name(domain, index);
	if (!atoll_tap_create(name, bridge, mac, error))
		return NULL;
	return g_steal_pointer(&name);
}

bool atoll_libvirt_nics_teardown(const char *domain, unsigned max_nics,
				 GError **error)
{
	bool ok = true;

	for (unsigned i = 0; i < max_nics; i++) {
		g_autofree char *name = atoll_tap_name(domain, i);

		if (!atoll_tap_delete(name, ok ? error : NULL))
			ok = false;
	}
	return ok;
}
