// The end-to-end suite builds real kernel objects in network namespaces: it needs root.
if (process.getuid?.() !== 0) {
  console.error('test:e2e needs root (it creates network namespaces); run: sudo npm run test:e2e');
  process.exit(1);
}
