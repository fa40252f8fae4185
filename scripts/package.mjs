// Builds the Debian package build/fan_VERSION_all.deb with dpkg-deb from the built tree (npm run build first;
// `npm run package` does both) and, when the C CNI forwarder was built (clang), the companion package
// build/fan-cni-forward_VERSION_ARCH.deb: the forwarder is machine code, so it cannot live in an `all` package.
// Layout on the target host:
//   /usr/lib/fan/             package.json, dist/src (no tests, no source maps), build/bpf/fan.bpf.o, node_modules
//                             (production dependencies only, `npm ci --omit=dev` into the staging tree)
//   /usr/bin/fanctl           sh wrapper: /usr/bin/node /usr/lib/fan/dist/src/bin/fanctl.js
//   /usr/lib/cni/fan          the CNI plugin wrapper, next to Debian's containernetworking-plugins; it execs the
//                             forwarder when fan-cni-forward is installed, else the Node entry
//   /usr/lib/fan/build/bin/fan-cni-forward   (fan-cni-forward) where `fanctl cni install` finds it too
//   /usr/lib/fan/build/bin/fan-exec          (fan-cni-forward) the tool starter fanctl and the agent use
//   /lib/systemd/system/      fan.service, fan-agent.service (rendered by dist/src/service/units.js)
//   /etc/network/fan          conffile, every line commented; /etc/default/fan (conffile, the agent's options)
// Usage: node scripts/package.mjs [--out DIR]
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('..', import.meta.url));
const outIndex = process.argv.indexOf('--out');
const outDir = outIndex > 0 ? process.argv[outIndex + 1] : join(repo, 'build');
const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8'));

const fail = (message) => {
  console.error(`package: ${message}`);
  process.exit(1);
};
for (const needed of ['dist/src/bin/fanctl.js', 'dist/src/service/units.js', 'build/bpf/fan.bpf.o']) {
  if (!existsSync(join(repo, needed)))
    fail(`${needed} is missing: run npm run build first (clang, llvm and libbpf-dev build the eBPF object)`);
}
const units = await import(join(repo, 'dist/src/service/units.js'));
const cni = await import(join(repo, 'dist/src/cni/install.js'));

const LIB = '/usr/lib/fan';
const NODE = '/usr/bin/node';
const CNI_DIR = '/usr/lib/cni';
const stage = join(repo, 'build/deb/root');
rmSync(join(repo, 'build/deb'), { recursive: true, force: true });
const at = (path) => join(stage, path);
const write = (path, text, mode = 0o644) => {
  mkdirSync(dirname(at(path)), { recursive: true });
  writeFileSync(at(path), text);
  chmodSync(at(path), mode);
};

// The application: compiled code without unit tests and source maps, the package manifest, the eBPF object.
cpSync(join(repo, 'dist/src'), at(`${LIB}/dist/src`), {
  recursive: true,
  filter: (src) => !/\.test\.js$|\.map$/.test(src) && !src.includes('/src/testing'),
});
copyFileSync(join(repo, 'package.json'), at(`${LIB}/package.json`));
copyFileSync(join(repo, 'package-lock.json'), at(`${LIB}/package-lock.json`));
mkdirSync(at(`${LIB}/build/bpf`), { recursive: true });
copyFileSync(join(repo, 'build/bpf/fan.bpf.o'), at(`${LIB}/build/bpf/fan.bpf.o`));
// Production dependencies at the versions of package-lock.json; setup.sh's npm ci filled the cache.
execFileSync(
  'npm',
  ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'],
  { cwd: at(LIB), stdio: 'inherit' },
);
rmSync(at(`${LIB}/package-lock.json`));
rmSync(at(`${LIB}/node_modules/.package-lock.json`), { force: true });

// Entry points on PATH and in the CNI plugin directory.
write('/usr/bin/fanctl', units.renderFanctlWrapper({ node: NODE, entry: `${LIB}/dist/src/bin/fanctl.js` }), 0o755);
const FORWARDER = `${LIB}/build/bin/fan-cni-forward`;
const EXEC_HELPER = `${LIB}/build/bin/fan-exec`;
write(
  `${CNI_DIR}/fan`,
  cni.renderWrapper({ node: NODE, entry: `${LIB}/dist/src/bin/fan-cni.js`, forwarder: FORWARDER }),
  0o755,
);

// systemd units and the default config files, from the same renderer as `fanctl install-service`.
const conffiles = [];
for (const file of units.serviceFiles(units.PACKAGE_LAYOUT)) {
  write(file.path, file.content, file.mode);
  if (file.path.startsWith('/etc/')) conffiles.push(file.path);
}

write('/usr/share/doc/fan/README.md', readFileSync(join(repo, 'README.md'), 'utf8'));
for (const doc of existsSync(join(repo, 'docs')) ? readdirSync(join(repo, 'docs')) : []) {
  write(`/usr/share/doc/fan/${doc}`, readFileSync(join(repo, 'docs', doc), 'utf8'));
}
write(
  '/usr/share/doc/fan/copyright',
  [
    'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/',
    'Upstream-Name: fan',
    '',
    'Files: *',
    `License: ${pkg.license}`,
    ' On Debian systems the full text of the Apache License 2.0 is in /usr/share/common-licenses/Apache-2.0.',
    '',
  ].join('\n'),
);

// Normalise permissions: files 0644 unless executable, directories 0755.
const walk = (dir) => {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const st = statSync(path);
    if (st.isDirectory()) {
      chmodSync(path, 0o755);
      walk(path);
    } else if (st.isFile()) {
      chmodSync(path, st.mode & 0o111 ? 0o755 : 0o644);
    }
  }
};
walk(stage);

const installedSize = (root) =>
  Number(execFileSync('du', ['-sk', '--apparent-size', root], { encoding: 'utf8' }).split(/\s+/)[0]);
const controlText = (fields) =>
  `${Object.entries(fields)
    .map(([k, v]) => `${k}: ${v}`)
    .join('\n')}\n`;
const installedKiB = installedSize(stage);
const control = {
  Package: 'fan',
  Version: pkg.version,
  Architecture: 'all',
  Maintainer: 'fan developers <fan@localhost>',
  'Installed-Size': String(installedKiB),
  // nodejs >= 20: NodeSource's package, or Debian's from trixie on (bookworm ships 18).
  Depends:
    'nodejs (>= 20), iproute2, nftables, iptables, bpftool, dnsmasq-base, procps, util-linux, ' +
    'init-system-helpers (>= 1.54~)',
  Recommends: 'containernetworking-plugins',
  Suggests: 'fan-cni-forward, docker.io | podman, prometheus',
  // Ubuntu's Fan owns /etc/network/fan and a fanctl too.
  Conflicts: 'ubuntu-fan',
  Section: 'net',
  Priority: 'optional',
  Description: [
    'Fan networking on stock Linux kernels',
    " fan maps an overlay network onto an underlay with Ubuntu's Fan arithmetic (every host computes where",
    ' every container lives), with an eBPF VXLAN or host-gw data plane instead of kernel patches. It ships',
    ' fanctl, a boot service for /etc/network/fan, a CNI plugin, a Docker network/IPAM plugin and a',
    ' Prometheus metrics endpoint.',
  ].join('\n'),
};
write('/DEBIAN/control', controlText(control));
write('/DEBIAN/conffiles', `${conffiles.join('\n')}\n`);
for (const script of ['postinst', 'prerm', 'postrm']) {
  write(`/DEBIAN/${script}`, readFileSync(join(repo, 'packaging/debian', script), 'utf8'), 0o755);
}

mkdirSync(outDir, { recursive: true });
const deb = join(outDir, `fan_${pkg.version}_all.deb`);
execFileSync('dpkg-deb', ['--root-owner-group', '-Zxz', '--build', stage, deb], {
  stdio: ['ignore', 'ignore', 'inherit'],
});
console.log(`package: ${relative(process.cwd(), deb) || deb} (${installedKiB} KiB installed)`);

// The companion package with the C forwarder, for the architecture it was compiled for.
const built = join(repo, 'build/bin/fan-cni-forward');
if (!existsSync(built)) {
  console.log('package: no build/bin/fan-cni-forward (clang missing?): fan-cni-forward not built');
} else {
  const arch = execFileSync('dpkg', ['--print-architecture'], { encoding: 'utf8' }).trim();
  const fwdStage = join(repo, 'build/deb/forward');
  const fwdAt = (path) => join(fwdStage, path);
  mkdirSync(dirname(fwdAt(FORWARDER)), { recursive: true });
  copyFileSync(built, fwdAt(FORWARDER));
  chmodSync(fwdAt(FORWARDER), 0o755);
  const helper = join(repo, 'build/bin/fan-exec');
  if (existsSync(helper)) {
    copyFileSync(helper, fwdAt(EXEC_HELPER));
    chmodSync(fwdAt(EXEC_HELPER), 0o755);
  }
  mkdirSync(fwdAt('/usr/share/doc/fan-cni-forward'), { recursive: true });
  copyFileSync(at('/usr/share/doc/fan/copyright'), fwdAt('/usr/share/doc/fan-cni-forward/copyright'));
  walk(fwdStage);
  mkdirSync(fwdAt('/DEBIAN'), { recursive: true });
  writeFileSync(
    fwdAt('/DEBIAN/control'),
    controlText({
      Package: 'fan-cni-forward',
      Version: pkg.version,
      Architecture: arch,
      Maintainer: control.Maintainer,
      'Installed-Size': String(installedSize(fwdStage)),
      Depends: `fan (= ${pkg.version}), libc6`,
      Section: 'net',
      Priority: 'optional',
      Description: [
        "fast CNI entry point for fan's agent",
        ' A small C program that hands each CNI call to the fan agent (fanctl agent) over its unix socket, so a',
        ' container attach costs a millisecond of process start-up instead of a Node.js start. The CNI plugin',
        ' of the fan package uses it when it is installed; without a running agent it runs the Node.js plugin.',
        ' It also holds fan-exec, which starts the kernel tools for fanctl and the agent without forking the',
        ' Node.js process (a few milliseconds saved per tool).',
      ].join('\n'),
    }),
  );
  const fwdDeb = join(outDir, `fan-cni-forward_${pkg.version}_${arch}.deb`);
  execFileSync('dpkg-deb', ['--root-owner-group', '-Zxz', '--build', fwdStage, fwdDeb], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  console.log(`package: ${relative(process.cwd(), fwdDeb) || fwdDeb} (the C CNI forwarder, ${arch})`);
}
