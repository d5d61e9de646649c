// One Provenance per distinct version of a source record: who sent it, in which file, and what
// happened (create / update / delete). Its id includes a digest of the record's content, so
// re-ingesting the same content finds the same Provenance (written create-if-absent) and an
// amendment gets a new one: the history of a resource stays explained.
import type { Provenance, Reference } from '@medplum/fhirtypes';
import { contentDigest, deterministicId } from './ids.js';
import { meta, ref } from './fhir-helpers.js';
import { buildSourceOrganization } from './parties.js';
import { PROFILE } from './profiles.js';
import { LEAD_CANONICAL, SYSTEM } from './systems.js';
import type { MapContext, MappedResource, RecordAction } from './types.js';

// v3-DataOperation codes (http://terminology.hl7.org/CodeSystem/v3-DataOperation).
const ACTIVITY: Record<RecordAction, { code: string; display: string }> = {
  new: { code: 'CREATE', display: 'create' },
  amend: { code: 'UPDATE', display: 'revise' },
  delete: { code: 'DELETE', display: 'delete' },
};

export function withProvenance(
  ctx: MapContext,
  layout: string,
  recordId: string,
  action: RecordAction,
  sourceContent: unknown,
  owned: MappedResource[],
): MappedResource[] {
  const org = buildSourceOrganization(ctx.sourceOrg, ctx.sourceOrgName);
  const targets: Reference[] = owned.filter((m) => m.mode === 'upsert').map((m) => ref(m.resource));
  const provenance: Provenance & { id: string } = {
    resourceType: 'Provenance',
    id: deterministicId(ctx.sourceOrg, layout, recordId, 'Provenance', contentDigest(sourceContent)),
    meta: meta(PROFILE.provenance),
    target: targets,
    recorded: ctx.now().toISOString(),
    activity: { coding: [{ system: SYSTEM.dataOperation, ...ACTIVITY[action] }] },
    agent: [
      {
        type: { coding: [{ system: SYSTEM.provenanceParticipantType, code: 'author', display: 'Author' }] },
        who: ref(org, ctx.sourceOrgName),
      },
    ],
    entity: [
      {
        role: 'source',
        what: {
          identifier: { system: `${LEAD_CANONICAL}/sid/source-file/${encodeURIComponent(ctx.sourceOrg)}`, value: ctx.fileName },
          display: `${layout} file ${ctx.fileName}, record ${recordId}`,
        },
      },
    ],
  };
  return [{ resource: org, mode: 'create-if-absent' }, ...owned, { resource: provenance, mode: 'create-if-absent' }];
}
