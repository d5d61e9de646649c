// Our published profiles (StructureDefinitions in profiles/), loaded once at start and looked
// up by canonical URL (with or without a |version suffix).
//
// @medplum/core's validateResource(r, { profile }) parses the StructureDefinition on every call
// (measured: 70 validations/s for our Patient profile). Registering each profile once as a
// data type of its own and validating against that type gives the same issues at ~880/s.
import { loadDataType, OperationOutcomeError, validateTypedValue } from '@medplum/core';
import type { OperationOutcomeIssue, Resource, StructureDefinition } from '@medplum/fhirtypes';

interface Compiled {
  sd: StructureDefinition;
  /** The name the parsed profile is registered under in medplum's type registry. */
  typeName: string;
}

export class ProfileCache {
  private readonly byUrl = new Map<string, Compiled>();

  constructor(profiles: StructureDefinition[]) {
    profiles.forEach((sd, i) => {
      if (!sd.url || !sd.snapshot) return;
      const typeName = `LeadGatewayProfile${i}${sd.type}`;
      // A base-type URL makes medplum file the parsed schema under `typeName` in its global
      // registry, where validateTypedValue finds it without re-parsing.
      loadDataType({ ...sd, url: `http://hl7.org/fhir/StructureDefinition/${typeName}`, type: typeName, name: typeName });
      const compiled = { sd, typeName };
      this.byUrl.set(sd.url, compiled);
      if (sd.version) this.byUrl.set(`${sd.url}|${sd.version}`, compiled);
    });
  }

  private lookup(url: string): Compiled | undefined {
    return this.byUrl.get(url) ?? this.byUrl.get(url.split('|')[0]);
  }

  get(url: string): StructureDefinition | undefined {
    return this.lookup(url)?.sd;
  }

  has(url: string): boolean {
    return !!this.lookup(url);
  }

  /** Issues of `resource` against the profile at `url` (which must be known: see has()). */
  validate(url: string, resource: Resource): OperationOutcomeIssue[] {
    const c = this.lookup(url);
    if (!c) return [];
    if (c.sd.type !== resource.resourceType) {
      return [{ severity: 'error', code: 'invalid', diagnostics: `Profile ${url} is for ${c.sd.type}, not ${resource.resourceType}`, expression: ['meta.profile'] }];
    }
    try {
      return validateTypedValue({ type: c.typeName, value: resource });
    } catch (err) {
      if (err instanceof OperationOutcomeError) return (err.outcome.issue ?? []).map((i) => ({ ...i }));
      return [{ severity: 'error', code: 'exception', diagnostics: 'Profile validation could not complete' }];
    }
  }

  get size(): number {
    return new Set(this.byUrl.values()).size;
  }

  urls(): string[] {
    return [...new Set([...this.byUrl.values()].map((c) => c.sd.url as string))];
  }
}
