#!/usr/bin/env bats
# The packages: every command in tools/ has a man page, a package entry and
# a BATS file; the .deb and the .rpm build from a clean copy of the tree;
# lintian is clean; the .deb installed runs every command from /usr/sbin,
# lives next to Debian's own netproc package, and leaves nothing behind when
# removed.
#
# This installs bpfkit (and, for the coexistence test, Debian's netproc) on
# the machine: it refuses to when bpfkit is installed already, and
# teardown_file purges what it installed, also after a failure.

load helpers

bats_require_minimum_version 1.5.0

SRC=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# Commands other Debian packages ship with a different function, as
# package:path. bpfkit must never install these names (packaging/deb/README.md).
CLASHES=(netproc:/usr/sbin/netproc ruby-stackprof:/usr/bin/stackprof)

setup_file() {
	snapshot_kernel_state
	VERSION=$(sed -n "s/^  version: '\(.*\)',\$/\1/p" "$SRC/meson.build")
	PKG=$BATS_FILE_TMPDIR/pkg
	DEB=$PKG/deb/bpfkit_${VERSION}_amd64.deb
	export VERSION PKG DEB
	mkdir -p "$PKG"
	if installed bpfkit; then
		touch "$BATS_FILE_TMPDIR/bpfkit.was-installed"
	fi
}

teardown_file() {
	if [ ! -e "$BATS_FILE_TMPDIR/bpfkit.was-installed" ] && known bpfkit; then
		dpkg --purge bpfkit >/dev/null
	fi
	if [ -e "$BATS_FILE_TMPDIR/netproc.we-installed" ] && known netproc; then
		dpkg --purge netproc >/dev/null
	fi
	check_nothing_left
}

installed() { [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]; }
# Installed, or half-installed, or removed with its configuration left.
known() { dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null | grep -qv '^not-installed$'; }

need_deb() {
	[ -f "$DEB" ] || {
		echo "no $DEB: the build test failed" >&2
		return 1
	}
}

# Installs the .deb unless it is installed; never over a bpfkit that was on
# the machine before this file ran.
install_deb() {
	if [ -e "$BATS_FILE_TMPDIR/bpfkit.was-installed" ]; then
		skip "bpfkit was installed on this machine before the test: not replacing it"
	fi
	need_deb
	installed bpfkit || dpkg -i "$DEB" >/dev/null
}

# Paths in the .deb, without the leading "." (directories end in /).
deb_paths() { dpkg-deb -c "$DEB" | awk '{print $6}' | sed 's,^\.,,'; }
# The commands the .deb installs (names in /usr/sbin).
deb_commands() { deb_paths | sed -n 's|^/usr/sbin/\([^/]\{1,\}\)$|\1|p'; }
tools() { for d in "$SRC"/tools/*/; do basename "$d"; done; }

# The text of a man page (troff source, maybe gzipped) as man shows it.
man_text() { zcat -f "$1" | groff -man -Tascii -P-cbou 2>/dev/null; }

@test "every command in tools/ has a man page, a package entry and a BATS file" {
	local installs missing=() t c
	# "built-file installed-path" for everything meson installs.
	installs=$(meson introspect "$BUILD" --installed | jq -r 'to_entries[] | "\(.key) \(.value)"')
	for t in $(tools); do
		[ -f "$SRC/man/$t.8" ] || missing+=("$t: no man page (man/$t.8)")
		[ -f "$SRC/tests/bats/$t.bats" ] || missing+=("$t: no BATS file (tests/bats/$t.bats)")
		# Installed by packaging/meson.build, under its installed name.
		grep -Eq "^$BUILD/packaging/(bpfkit-)?$t /.*/sbin/(bpfkit-)?$t\$" <<<"$installs" ||
			missing+=("$t: no package entry (commands += {'$t': ...} in tools/$t/meson.build)")
		grep -Eq "/man8/(bpfkit-)?$t\.8\$" <<<"$installs" ||
			missing+=("$t: meson installs no man page for it")
	done
	for c in $(grep -E ' /.*/sbin/[^/]+$' <<<"$installs" | awk '{print $2}' | xargs -r -n1 basename); do
		[ -d "$SRC/tools/${c#bpfkit-}" ] || missing+=("$c: installed, but there is no tools/${c#bpfkit-}/")
	done
	while read -r c; do
		missing+=("$c installs itself: build it with install: false and add it to commands")
	done < <(grep -E ' /.*/sbin/[^/]+$' <<<"$installs" | grep -v "^$BUILD/packaging/" | awk '{print $1}')
	if [ ${#missing[@]} -gt 0 ]; then
		printf '%s\n' "${missing[@]}" >&2
		return 1
	fi
}

@test "every man page renders without warnings, has its sections, and the setcap lines bpfcheck prints" {
	local page t out s ladders setcaps bad=()
	ladders=$("$(bin bpfcheck)" --json | jq -r 'select(.type=="tool") | .tool') || true
	[ -n "$ladders" ]
	for t in $(tools); do
		page=$BUILD/man/$t.8
		[ -f "$page" ] || page=$BUILD/man/bpfkit-$t.8
		[ -f "$page" ] || {
			bad+=("$t: no built man page")
			continue
		}
		out=$(groff -man -ww -z "$page" 2>&1)
		[ -z "$out" ] || bad+=("$t: groff -man -ww: $out")
		for s in NAME SYNOPSIS DESCRIPTION OPTIONS FIELDS 'EXIT STATUS' EXAMPLES REQUIREMENTS \
			OVERHEAD 'SEE ALSO'; do
			grep -Eq "^\.SH \"?$s\"?\$" "$page" || bad+=("$t: no $s section")
		done
		if grep -qx "$t" <<<"$ladders"; then
			grep -Eq '^\.SH "?MODES"?$' "$page" || bad+=("$t: has a ladder but no MODES section")
		fi
	done
	# Each tool's setcap line, as bpfcheck prints it, in the tool's page and
	# in bpfcheck's.
	setcaps=$("$(bin bpfcheck)" --json | jq -r 'select(.type=="tool") | "\(.tool) \(.setcap)"') || true
	while read -r t s; do
		[ -n "$s" ] || continue
		page=$BUILD/man/$t.8
		[ -f "$page" ] || page=$BUILD/man/bpfkit-$t.8
		man_text "$page" | grep -qF "$s" || bad+=("$t: its page lacks '$s'")
		man_text "$BUILD/man/bpfcheck.8" | grep -qF "$s" || bad+=("bpfcheck: its page lacks '$s'")
	done <<<"$setcaps"
	if [ ${#bad[@]} -gt 0 ]; then
		printf '%s\n' "${bad[@]}" >&2
		return 1
	fi
}

@test "meson.build, debian/changelog, the spec and every command's --version carry one version" {
	local t
	[ -n "$VERSION" ]
	[ "$(dpkg-parsechangelog -l "$SRC/packaging/deb/debian/changelog" -S Version)" = "$VERSION" ]
	[ "$(sed -n 's/^Version: *//p' "$SRC/packaging/rpm/bpfkit.spec")" = "$VERSION" ]
	# The spec's newest changelog entry is for this version.
	grep -A1 '^%changelog' "$SRC/packaging/rpm/bpfkit.spec" | grep -q -- "- $VERSION-1\$"
	for t in $(tools); do
		[ -x "$(bin "$t")" ] || {
			echo "$t: not built ($(bin "$t"))" >&2
			return 1
		}
		run "$(bin "$t")" --version
		[ "$status" -eq 0 ]
		[[ "$output" == *" (bpfkit) $VERSION" ]]
	done
}

@test "the .deb builds from a clean copy of the tree (dpkg-buildpackage -us -uc -b), leaving the tree as it was" {
	local before after
	# New files in the tree, untracked or ignored (not edits: those could be
	# someone's work going on meanwhile).
	before=$(git -C "$SRC" status --porcelain --ignored | grep -E '^(\?\?|!!)')
	run "$SRC/packaging/deb/build-deb" "$PKG/deb"
	echo "$output"
	[ "$status" -eq 0 ]
	[ -f "$DEB" ]
	[ "$(dpkg-deb -f "$DEB" Version)" = "$VERSION" ]
	after=$(git -C "$SRC" status --porcelain --ignored | grep -E '^(\?\?|!!)')
	[ "$before" = "$after" ]
	[ ! -e "$SRC/debian" ]
}

@test "lintian: no errors or warnings; an override only with its reason" {
	local f
	need_deb
	run lintian --fail-on error,warning --display-level '>=warning' --show-overrides \
		"$PKG/deb/bpfkit_${VERSION}_amd64.changes" "$PKG/deb/bpfkit_${VERSION}.dsc"
	echo "$output"
	[ "$status" -eq 0 ]
	if grep -E '^[EW]: ' <<<"$output"; then return 1; fi
	# Each override line follows a comment saying why.
	for f in "$SRC"/packaging/deb/debian/*lintian-overrides "$SRC"/packaging/deb/debian/source/lintian-overrides; do
		[ -e "$f" ] || continue
		awk -v f="$f" '/^#/ { why = 1; next } /^[[:space:]]*$/ { why = 0; next }
			!why { print f ": no reason above: " $0; bad = 1 } END { exit bad }' "$f"
	done
}

@test "the .deb ships each command in /usr/sbin with its man page, and never a name another package ships" {
	local t name paths c bad=()
	need_deb
	paths=$(deb_paths)
	for t in $(tools); do
		name=$(grep -Ex "/usr/sbin/(bpfkit-)?$t" <<<"$paths" | xargs -r basename)
		[ -n "$name" ] || {
			bad+=("$t: not in /usr/sbin")
			continue
		}
		grep -qx "/usr/share/man/man8/$name.8.gz" <<<"$paths" || bad+=("$name: no man page")
	done
	[ "$(deb_commands | wc -l)" -eq "$(tools | wc -l)" ] || bad+=("commands: $(deb_commands | xargs)")
	for c in "${CLASHES[@]}"; do
		name=$(basename "${c#*:}")
		grep -Eqx "/usr/s?bin/$name|/usr/share/man/man[0-9]/$name\.[0-9]\.gz" <<<"$paths" &&
			bad+=("ships $name, which package ${c%%:*} ships as ${c#*:}")
		# A tool of that name is in the package as bpfkit-<name>.
		if [ -d "$SRC/tools/$name" ]; then
			grep -qx "/usr/sbin/bpfkit-$name" <<<"$paths" || bad+=("$name: not renamed to bpfkit-$name")
		fi
	done
	grep -qx /usr/share/doc/bpfkit/examples/bpfkit-netproc-snapshot.service <<<"$paths"
	grep -qx /usr/share/doc/bpfkit/examples/bpfkit-netproc-snapshot.timer <<<"$paths"
	if [ ${#bad[@]} -gt 0 ]; then
		printf '%s\n' "${bad[@]}" >&2
		return 1
	fi
}

@test "the .rpm builds (rpmbuild -bb --nodeps) and holds the same files as the .deb" {
	local rpmfile
	need_deb
	run "$SRC/packaging/rpm/build-rpm" "$PKG/rpm"
	echo "$output"
	[ "$status" -eq 0 ]
	rpmfile=$PKG/rpm/bpfkit-$VERSION-1.x86_64.rpm
	[ -f "$rpmfile" ]
	[ "$(rpm -qp --qf '%{VERSION}' "$rpmfile")" = "$VERSION" ]
	# Files, not directories. Each format's own records are left out: the
	# .deb's copyright and changelog, the .rpm's license file and build-id links.
	rpm -qp --qf '[%{FILEMODES:perms} %{FILENAMES}\n]' "$rpmfile" |
		awk '$1 !~ /^d/ { print $2 }' | grep -Ev '^/usr/lib/\.build-id/|^/usr/share/licenses/bpfkit/' |
		sort >"$BATS_TEST_TMPDIR/rpm.files"
	dpkg-deb -c "$DEB" | awk '$1 !~ /^d/ { print $6 }' | sed 's,^\.,,' |
		grep -Ev '^/usr/share/doc/bpfkit/(copyright|changelog\.gz)$' | sort >"$BATS_TEST_TMPDIR/deb.files"
	diff -u "$BATS_TEST_TMPDIR/deb.files" "$BATS_TEST_TMPDIR/rpm.files"
	rpm -qlp "$rpmfile" | grep -qx /usr/share/licenses/bpfkit/LICENSE
}

@test "installed: each command in /usr/sbin prints the package's version and its help, runs for real, and man finds its page" {
	local name tool pkgver args line bad=()
	install_deb
	pkgver=$(dpkg-query -W -f='${Version}' bpfkit)
	[ "$pkgver" = "$VERSION" ]
	[ "$(deb_commands | wc -l)" -eq "$(tools | wc -l)" ]
	for name in $(deb_commands); do
		tool=${name#bpfkit-}
		run /usr/sbin/"$name" --version
		[ "$status" -eq 0 ] && [ "$output" = "$name (bpfkit) $pkgver" ] ||
			bad+=("$name --version: $status '$output'")
		run /usr/sbin/"$name" --help
		[ "$status" -eq 0 ] && [[ "${lines[0]}" == "Usage: $name "* ]] ||
			bad+=("$name --help: $status '${lines[0]}'")
		if [ "$name" != "$tool" ] && grep -Eq "(^|[^-[:alnum:]])$tool\(8\)" <<<"$output"; then
			bad+=("$name --help points at $tool(8), another package's page")
		fi
		[ "$(man -w "$name")" = "/usr/share/man/man8/$name.8.gz" ] || bad+=("man -w $name: $(man -w "$name" 2>&1)")
		# One real short run: JSON lines of the tool's schema, for a second
		# where the tool takes --duration.
		args=(--json)
		/usr/sbin/"$name" --help | grep -q -- '--duration' && args+=(--duration 1)
		run --separate-stderr /usr/sbin/"$name" "${args[@]}"
		# bpfcheck exits 1 when a tool runs only in a degraded mode.
		if ! { [ "$status" -eq 0 ] || { [ "$tool" = bpfcheck ] && [ "$status" -eq 1 ]; }; }; then
			bad+=("$name ${args[*]}: exit $status: $stderr")
		fi
		[ "${#lines[@]}" -gt 0 ] || bad+=("$name ${args[*]}: no output: $stderr")
		for line in "${lines[@]}"; do
			jq -e --arg t "$tool/" '.schema | startswith($t)' <<<"$line" >/dev/null ||
				bad+=("$name ${args[*]}: not a $tool record: $line")
		done
	done
	# The setcap line the installed bpfcheck prints for each tool names the
	# installed file, and that tool's installed page gives the same line.
	while read -r tool line; do
		[ -n "$line" ] || continue
		name=${line##* }
		[ "$(dpkg -S "$name" 2>/dev/null | cut -d: -f1)" = bpfkit ] || bad+=("setcap names $name, not bpfkit's")
		man_text "$(man -w "$(basename "$name")")" | grep -qF "$line" || bad+=("$(basename "$name")(8) lacks '$line'")
	done < <(/usr/sbin/bpfcheck --json | jq -r 'select(.type=="tool") | "\(.tool) \(.setcap)"')
	if [ ${#bad[@]} -gt 0 ]; then
		printf '%s\n' "${bad[@]}" >&2
		return 1
	fi
}

@test "installed: the setcap line bpfcheck prints to nobody lets nobody run the tool" {
	local tool line file args lines_
	install_deb
	lines_=$(su nobody -s /bin/sh -c '/usr/sbin/bpfcheck --json' |
		jq -r 'select(.type=="tool" and .setcap != "") | "\(.tool) \(.setcap)"')
	[ -n "$lines_" ]
	while read -r tool line; do
		[ -n "$line" ] || continue
		file=${line##* }
		args=(--json)
		"$file" --help | grep -q -- '--duration' && args+=(--duration 1)
		# Without it, nobody cannot; with it (applied as printed), nobody can.
		run su nobody -s /bin/sh -c "$file ${args[*]}"
		[ "$status" -eq 2 ]
		$line
		run --separate-stderr su nobody -s /bin/sh -c "$file ${args[*]}"
		setcap -r "$file"
		echo "$stderr"
		[ "$status" -eq 0 ]
		jq -e -s --arg t "$tool/" 'length > 0 and all(.schema | startswith($t))' <<<"$output"
	done <<<"$lines_"
}

@test "installed: the example systemd timer and service verify, and the service's command appends JSON lines" {
	local ex cmd n
	install_deb
	ex=/usr/share/doc/bpfkit/examples
	run systemd-analyze verify "$ex/bpfkit-netproc-snapshot.service" "$ex/bpfkit-netproc-snapshot.timer"
	echo "$output"
	[ "$status" -eq 0 ]
	grep -qx 'OnCalendar=minutely' "$ex/bpfkit-netproc-snapshot.timer"
	grep -qx 'StandardOutput=append:/var/log/bpfkit-netproc.jsonl' "$ex/bpfkit-netproc-snapshot.service"
	cmd=$(sed -n 's/^ExecStart=//p' "$ex/bpfkit-netproc-snapshot.service")
	[[ "$cmd" == "/usr/sbin/bpfkit-netproc --json --duration 55" ]]
	# Two runs of that command, a second each, appended to one file.
	for n in 1 2; do
		${cmd% 55} 1 >>"$BATS_TEST_TMPDIR/snap.jsonl"
	done
	[ "$(jq -c 'select(.type=="totals")' "$BATS_TEST_TMPDIR/snap.jsonl" | wc -l)" -eq 2 ]
	jq -e -s 'all(.schema == "netproc/1")' "$BATS_TEST_TMPDIR/snap.jsonl"
}

# Debian's package of that name, from apt (cached like the VM kernels).
fetch_debian_package() {
	local cache=${BPFKIT_PKG_CACHE:-$HOME/.cache/bpfkit-pkg}
	mkdir -p "$cache"
	ls "$cache/$1"_*.deb >/dev/null 2>&1 || (cd "$cache" && apt-get download -qq "$1" >/dev/null 2>&1) || return 1
	ls "$cache/$1"_*.deb | sort -V | tail -1
}

@test "installed next to Debian's netproc package: its /usr/sbin/netproc and netproc(8) stay its own" {
	local deb
	[ ! -e "$BATS_FILE_TMPDIR/bpfkit.was-installed" ] || skip "bpfkit was installed before the test"
	need_deb
	if ! installed netproc; then
		deb=$(fetch_debian_package netproc) || skip "Debian's netproc package could not be downloaded (apt-get download netproc)"
		touch "$BATS_FILE_TMPDIR/netproc.we-installed"
		dpkg -i "$deb" >/dev/null
	fi
	# bpfkit installed after it, and removed before it.
	! known bpfkit || dpkg --purge bpfkit >/dev/null
	dpkg -i "$DEB" >/dev/null
	[ "$(dpkg -S /usr/sbin/netproc | cut -d: -f1)" = netproc ]
	[ -z "$(dpkg --verify netproc)" ]
	[ "$(command -v netproc)" = /usr/sbin/netproc ]
	[ "$(command -v bpfkit-netproc)" = /usr/sbin/bpfkit-netproc ]
	[ "$(dpkg -S "$(man -w netproc)" | cut -d: -f1)" = netproc ]
	[ "$(dpkg -S "$(man -w bpfkit-netproc)" | cut -d: -f1)" = bpfkit ]
	dpkg --purge bpfkit >/dev/null
	[ -z "$(dpkg --verify netproc)" ]
	if [ -e "$BATS_FILE_TMPDIR/netproc.we-installed" ]; then
		dpkg --purge netproc >/dev/null
		rm "$BATS_FILE_TMPDIR/netproc.we-installed"
	fi
}

@test "removing the package leaves nothing of it on disk" {
	local p left=()
	install_deb
	dpkg --purge bpfkit >/dev/null
	if known bpfkit; then return 1; fi
	while read -r p; do
		p=${p%/}
		[ -n "$p" ] || continue
		[ -e "$p" ] || [ -L "$p" ] || continue
		# A directory another package owns too (/usr/sbin) stays.
		[ -d "$p" ] && dpkg -S "$p" >/dev/null 2>&1 && continue
		left+=("$p")
	done < <(deb_paths)
	if ls /var/lib/dpkg/info/bpfkit.* 2>/dev/null; then return 1; fi
	[ ! -e /var/log/bpfkit-netproc.jsonl ]
	if [ ${#left[@]} -gt 0 ]; then
		printf 'left behind: %s\n' "${left[@]}" >&2
		return 1
	fi
}
