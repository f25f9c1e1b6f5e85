# shellcheck shell=sh
# Runs inside the debootstrapped root of the nginx stand-in (chroot, /bin/sh -eu):
# Debian's nginx package, laid out like the official nginx image.

# The official image's user and group: nginx, uid and gid 101.
for id in $(getent passwd 101 | cut -d: -f1) $(getent group 101 | cut -d: -f1); do
    echo "uid or gid 101 is taken by $id" >&2
    exit 1
done
groupadd --system --gid 101 nginx
useradd --system --uid 101 --gid nginx --no-create-home --home-dir /nonexistent \
    --shell /usr/sbin/nologin --comment "nginx user" nginx

# Debian's site and module layout is not the official one: nginx.conf (from the
# overlay) includes /etc/nginx/conf.d/*.conf only.
rm -rf /etc/nginx/sites-available /etc/nginx/sites-enabled /etc/nginx/modules-enabled \
    /etc/logrotate.d/nginx /var/www
[ -e /etc/nginx/modules ] || ln -s /usr/lib/nginx/modules /etc/nginx/modules

# Logs go to the container's output.
mkdir -p /var/log/nginx
chown root:root /var/log/nginx
chmod 755 /var/log/nginx
ln -sf /dev/stdout /var/log/nginx/access.log
ln -sf /dev/stderr /var/log/nginx/error.log

# Debian's compiled-in temp paths are under /var/lib/nginx; the official
# image's under /var/cache/nginx. One directory serves both, so a Dockerfile
# that hands /var/cache/nginx to the nginx user covers the temp files too.
rm -rf /var/lib/nginx
mkdir -p /var/cache/nginx
chown root:root /var/cache/nginx
chmod 755 /var/cache/nginx
ln -s /var/cache/nginx /var/lib/nginx

# The official image has a debug build under this name; Debian has none.
ln -sf nginx /usr/sbin/nginx-debug

# Nothing may depend on Debian's www-data.
owned=$(find / -xdev \( -user www-data -o -group www-data \) -print)
if [ -n "$owned" ]; then
    echo "still owned by www-data: $owned" >&2
    exit 1
fi
