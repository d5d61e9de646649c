// Recompute one person's shared RiskAssessment: gather the current inputs, apply the protocol,
// write through the gateway's write path (labelled, validated, routed like any write). The
// occurrence date moves only when the result moves, so an unchanged result is an unchanged
// update (no new version).
import type { RiskAssessment } from '@medplum/fhirtypes';
import type { Repository } from '../fhir/store/repository.js';
import { sameContent } from '../fhir/store/repository.js';
import type { Sql } from '../fhir/store/database.js';
import { gatherRiskInputs, patientExists } from './gather-inputs.js';
import type { RiskProtocol } from './protocol.js';
import { isSharedRiskAssessment, riskInputs } from './risk-inputs.js';
import { buildSharedRiskAssessment, sharedRiskAssessmentId } from './shared-risk-assessment.js';
import { stratify, type Stratification } from './stratify.js';

export interface RecomputeDeps {
  /** The gateway's write path (createWritePath), never a bare Repository. */
  repo: Repository;
  /** Where inputs are read (the database). */
  sql: Sql;
  protocol: RiskProtocol;
  now?: () => Date;
}

export interface RecomputeResult {
  outcome: 'created' | 'updated' | 'unchanged' | 'no-patient';
  result?: Stratification;
  versionId?: string;
}

export async function recomputePatient(deps: RecomputeDeps, patientId: string): Promise<RecomputeResult> {
  if (!(await patientExists(deps.sql, patientId))) return { outcome: 'no-patient' };
  const now = (deps.now ?? (() => new Date()))();
  const resources = await gatherRiskInputs(deps.sql, patientId);
  const result = stratify(deps.protocol, riskInputs(resources, deps.protocol, now.toISOString().slice(0, 10)));
  const id = sharedRiskAssessmentId(patientId);
  const previous = resources.find((r): r is RiskAssessment => r.id === id && isSharedRiskAssessment(r));
  let ra = buildSharedRiskAssessment({ patientId, protocol: deps.protocol, result, occurrence: now.toISOString() });
  if (previous?.occurrenceDateTime) {
    // meta is the store's and the labeler's (versions, labels): compare the assessment itself.
    const same = { ...ra, occurrenceDateTime: previous.occurrenceDateTime };
    if (sameContent({ ...previous, meta: undefined }, { ...same, meta: undefined })) ra = same;
  }
  const written = await deps.repo.update(ra);
  return { outcome: written.outcome, result, versionId: written.resource.meta?.versionId };
}
