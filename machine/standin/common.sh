# shellcheck shell=sh
# Runs inside every freshly debootstrapped stand-in root (chroot, /bin/sh -eu),
# before the recipe's own rootfs.sh: make it small and host-neutral, the way
# Debian's slim images are.

# Package lists and caches: `apt-get update` in a derived image fetches them again.
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/debconf/*-old /var/lib/dpkg/*-old
find /var/log -type f -delete

# Documentation, as in Debian's slim images: keep the copyright files, and make
# dpkg skip the same paths for packages installed later.
cat > /etc/dpkg/dpkg.cfg.d/standin-slim <<'END'
# Installed by the flask-uwsgi stand-in recipe (as in Debian's slim images)
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
END
find /usr/share/doc -mindepth 1 ! -type d ! -name copyright -delete
find /usr/share/doc -mindepth 1 -type d -empty -delete
rm -rf /usr/share/man/* /usr/share/groff/* /usr/share/info/* /usr/share/lintian/* /usr/share/linda/*
find /usr/share/locale -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +

# debootstrap copied these from the build host; Docker provides them at run time.
: > /etc/resolv.conf
: > /etc/hostname
: > /etc/machine-id 2>/dev/null || true
