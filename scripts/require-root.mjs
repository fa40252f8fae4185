// The end-to-end suite builds real kernel objects in network namespaces: it needs root.
if (process.getuid?.() !== 0) {
  console.error(
    'the end-to-end tests need root (they create network namespaces): ' +
      'run sudo npm test, or npm run test:unit for the unit tests alone',
  );
  process.exit(1);
}
