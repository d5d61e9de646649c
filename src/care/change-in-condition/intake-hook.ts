// The change-in-condition intake: a write hook on QuestionnaireResponse. When a report of the
// published Questionnaire is committed (POST /fhir/QuestionnaireResponse, a transaction entry,
// or any other writer of the write path), it is checked against the Questionnaire and, in the
// same transaction, an Observation per "yes", a Flag and a Communication to the person's
// care-coordination points of contact are written through the write path (labelled, validated,
// routed, matched against subscription topics). An invalid report is a 422 and nothing is
// written: the hook throws and the report's transaction rolls back.
import type { CareTeam, QuestionnaireResponse, Resource } from '@medplum/fhirtypes';
import { outcomes } from '../../fhir/outcomes.js';
import type { Sql } from '../../fhir/store/database.js';
import { currentSource } from '../../exchange/write-source.js';
import type { WriteHook, WriteHookContext } from '../write-hooks.js';
import { derivedIds, deriveFromReport, isChangeInConditionReport, parseReport, pointsOfContact } from './report.js';
import { CHANGE_ITEMS } from './vocabulary.js';

async function careTeamsOf(tx: Sql, patientId: string): Promise<CareTeam[]> {
  const r = await tx.query<{ content: string }>(
    `SELECT r.content::text AS content FROM idx_reference i
       JOIN resource r ON r.resource_type = 'CareTeam' AND r.id = i.id AND NOT r.deleted
     WHERE i.resource_type = 'CareTeam' AND i.param = 'subject' AND i.target_type = 'Patient' AND i.target_id = $1
     ORDER BY r.id`,
    [patientId],
  );
  return r.rows.map((x) => JSON.parse(x.content) as CareTeam);
}

async function currentStatus(tx: Sql, type: string, id: string): Promise<string | undefined> {
  const r = await tx.query<{ status: string | null }>(
    `SELECT content->>'status' AS status FROM resource WHERE resource_type = $1 AND id = $2 AND NOT deleted`,
    [type, id],
  );
  return r.rows[0] ? (r.rows[0].status ?? '') : undefined;
}

export function changeInConditionHook(ctx: WriteHookContext): WriteHook {
  return async (tx, event) => {
    if (event.kind === 'delete' || event.resourceType !== 'QuestionnaireResponse' || !event.resource) return;
    const qr = event.resource as QuestionnaireResponse & { id: string };
    if (!isChangeInConditionReport(qr)) return;
    const { report, issues } = parseReport(qr);
    if (!report) throw outcomes.unprocessable(issues);
    const p = await tx.query(`SELECT 1 FROM resource WHERE resource_type = 'Patient' AND id = $1 AND NOT deleted`, [report.patientId]);
    if (!p.rows.length) {
      throw outcomes.unprocessable([
        { severity: 'error', code: 'not-found', diagnostics: `The report's subject Patient/${report.patientId} does not exist`, expression: ['QuestionnaireResponse.subject'] },
      ]);
    }
    const contacts = pointsOfContact(await careTeamsOf(tx, report.patientId));
    const derived = deriveFromReport(qr, report, { contacts, reporter: currentSource() });
    const repo = ctx.repoIn(tx);
    const writes: Resource[] = [...derived.observations, derived.flag, derived.communication];
    for (const r of writes) await repo.update(r);
    // An amended report that no longer says "yes" to an item withdraws its Observation.
    if (event.kind === 'update') {
      const ids = derivedIds(qr.id);
      for (const item of CHANGE_ITEMS) {
        if (report.positive.includes(item.code)) continue;
        const id = ids.observation(item.code);
        const status = await currentStatus(tx, 'Observation', id);
        if (status === undefined || status === 'entered-in-error') continue;
        const obs = await repo.read('Observation', id);
        await repo.update({ ...obs, status: 'entered-in-error' } as Resource);
      }
    }
  };
}
