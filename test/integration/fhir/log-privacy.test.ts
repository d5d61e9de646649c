// Logs never carry a resource body, a name or an identifier — even for failing requests.
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { http, startGateway, type RunningGateway } from '../../helpers/gateway.js';

const lines: string[] = [];
const sink = new Writable({
  write(chunk, _enc, cb) {
    lines.push(String(chunk));
    cb();
  },
});
let gw: RunningGateway;
beforeAll(async () => {
  gw = await startGateway('pglite', { logger: pino({ level: 'trace' }, sink) });
});
afterAll(async () => {
  await gw?.close();
});

it('logs requests without names, identifiers, ids or bodies', async () => {
  const name = 'Zebediah-Quixotic';
  const mbi = '9ZZ9ZZ9ZZ99';
  const created = await http('POST', `${gw.fhir}/Patient`, {
    resourceType: 'Patient',
    name: [{ family: name }],
    identifier: [{ system: 'http://hl7.org/fhir/sid/us-mbi', value: mbi }],
  });
  expect(created.status).toBe(201);
  await http('GET', `${gw.fhir}/Patient?family=${name}&identifier=${mbi}`);
  await http('GET', `${gw.fhir}/Patient/${created.body.id}`);
  await http('POST', `${gw.fhir}/Patient`, { resourceType: 'Patient', name: [{ family: name }], gender: 'invalid' });
  await http('PUT', `${gw.fhir}/Patient?identifier=${mbi}`, { resourceType: 'Patient', name: [{ family: name }] });
  const log = lines.join('');
  expect(lines.length).toBeGreaterThanOrEqual(5);
  expect(log).toContain('"path":"/fhir/Patient/:id"');
  for (const secret of [name, mbi, created.body.id as string]) expect(log).not.toContain(secret);
});
