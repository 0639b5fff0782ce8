#!/usr/bin/env bash
# Mount permissions: by default the mount has default_permissions and no
# allow_other, so a user other than the one who mounted it (nobody, via
# setpriv) can neither read nor write it.  Mounted again with
# -o allow_other, nobody reaches it, and default_permissions still makes
# the kernel enforce each file's mode: nobody cannot write a file whose
# mode does not grant others write access.
. "$(dirname "$0")/../lib.sh"

# The temporary directory is 0700; open it so that any refusal below
# comes from FUSE, not from the path leading to the mount.
chmod 755 "$AF_TMP"
as_nobody() {
  setpriv --reuid=65534 --regid=65534 --clear-groups "$@"
}
mount_opts() {
  awk -v m="$MNT" '$2 == m { print $4 }' /proc/self/mounts
}

af_start
opts=$(mount_opts)
case ",$opts," in *,default_permissions,*) ;; *) fail "no default_permissions in '$opts'" ;; esac
case ",$opts," in *,allow_other,*) fail "allow_other is on by default: '$opts'" ;; esac

assert_ok ls "$MNT/counter" >/dev/null
assert_fails as_nobody ls "$MNT" 2>/dev/null
assert_fails as_nobody stat "$MNT/counter/state.json" 2>/dev/null
assert_fails as_nobody cat "$MNT/counter/state.json" 2>/dev/null
err=$(as_nobody sh -c "echo '{\"n\":1}' > '$MNT/counter/queues/add/new'" 2>&1) \
  && fail "nobody enqueued on a mount without allow_other"
case $err in *"Permission denied"*) ;; *) fail "nobody's write: '$err', want Permission denied" ;; esac
assert_eq "$(jq -c .count "$MNT/counter/state.json")" 0 "count after nobody's refused write"
af_stop_ok

af_start -o allow_other
opts=$(mount_opts)
case ",$opts," in *,allow_other,*) ;; *) fail "-o allow_other not in '$opts'" ;; esac
case ",$opts," in *,default_permissions,*) ;; *) fail "-o allow_other lost default_permissions: '$opts'" ;; esac
assert_ok as_nobody ls "$MNT" >/dev/null
checked=0
for f in "$MNT"/counter/state.json "$MNT"/counter/status "$MNT"/counter/ctl \
         "$MNT"/counter/queues/add/new "$MNT"/counter/type; do
  [ -e "$f" ] || continue
  mode=$(stat -c %a "$f")
  if (( (8#$mode & 2) == 0 )); then
    checked=$((checked + 1))
    assert_fails as_nobody sh -c "echo '{\"n\":1}' > '$f'" 2>/dev/null
  fi
  if (( (8#$mode & 4) == 0 )); then
    assert_fails as_nobody cat "$f" >/dev/null 2>&1
  fi
done
[ "$checked" -gt 0 ] || fail "no file refuses others' writes: modes are all o+w"
assert_eq "$(jq -c .count "$MNT/counter/state.json")" 0 "count after nobody's writes"
af_stop_ok
af_pass
