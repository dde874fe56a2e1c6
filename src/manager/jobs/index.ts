export {
  type NbdTarget,
  nbdTarget,
  nbdTargetIdentity,
  nbdTargetKey,
  releaseNbdTarget,
} from './nbd-target.js';
export type { Effect, JobPlan, Step } from './plan.js';
export { type BackupParams, backupParams, backupPlan } from './plans/backup.js';
export { type FailbackParams, failbackPlan } from './plans/failback.js';
export { type FailoverParams, failoverPlan } from './plans/failover.js';
export { type RestoreParams, restorePlan } from './plans/restore.js';
export { type SiteStartParams, siteStartPlan } from './plans/site-start.js';
export { type VerifyParams, verifyPlan } from './plans/verify.js';
export { JobRunner, type SubmitOptions } from './runner.js';

import { backupPlan } from './plans/backup.js';
import { failbackPlan } from './plans/failback.js';
import { failoverPlan } from './plans/failover.js';
import { restorePlan } from './plans/restore.js';
import { siteStartPlan } from './plans/site-start.js';
import { verifyPlan } from './plans/verify.js';

/** Every kind of job the manager runs. */
export const JOB_PLANS = [backupPlan, restorePlan, verifyPlan, failoverPlan, failbackPlan, siteStartPlan];
