// Validates AsyncAPI documents with @asyncapi/parser: prints every diagnostic and exits 1 when
// any has error severity. Usage: node .ci/asyncapi/validate.mjs docs/feed/asyncapi.yaml …
import { Parser, fromFile } from '@asyncapi/parser';

const SEVERITY = ['error', 'warning', 'information', 'hint'];
const files = process.argv.slice(2);
if (files.length === 0) {
  console.error('usage: validate.mjs <asyncapi document>…');
  process.exit(2);
}
const parser = new Parser();
let errors = 0;
for (const file of files) {
  const { diagnostics } = await fromFile(parser, file).parse();
  for (const d of diagnostics) {
    const at = d.path.length > 0 ? d.path.join('.') : '(document)';
    console.log(`${file}: ${SEVERITY[d.severity] ?? d.severity}: ${at}: ${d.message} [${d.code}]`);
  }
  const count = diagnostics.filter((d) => d.severity === 0).length;
  errors += count;
  console.log(`${file}: ${count === 0 ? 'valid' : `${count} error(s)`}`);
}
process.exit(errors === 0 ? 0 : 1);
