/** Seed §4.8.4: GET /jobs. */
import { ErrorResponses } from '../../../../../../src-shared/api/common.js';
import { JobListReply, JobQuery } from '../../../../../../src-shared/api/jobs.js';
import { formatTimestamp } from '../../../../../../src-shared/units.js';
import type { Job } from '../../../../../core/model.js';
import type { App, RouteOptions } from '../../../../context.js';

const STATUS_FILTER: Record<string, string[] | undefined> = { all: undefined, working: ['working'], complete: ['done', 'failed'], done: ['done'], failed: ['failed'] };

function jobItem(job: Job) {
  return {
    description: job.description,
    detail: job.detail,
    detail_data: 'None',
    detail_icon: job.status === 'working' ? 'doing' : job.status,
    end_at: formatTimestamp(job.endAt),
    event_id: job.eventId,
    h_status: job.status,
    host: job.ownerName,
    job_status: job.status,
    job_type: job.type,
    source_id: job.ownerId,
    source_type: job.ownerKind,
    start_at: formatTimestamp(job.startAt)!,
    task_id: job.id,
    updated_at: formatTimestamp(job.updatedAt)!,
    failed_step: job.failedStep,
    failure_reason: job.failureReason,
    steps: job.steps.map((s) => ({ name: s.name, status: s.status, start_at: formatTimestamp(s.startAt), end_at: formatTimestamp(s.endAt), detail: s.detail })),
  };
}

export default async function jobRoutes(app: App, { engine }: RouteOptions): Promise<void> {
  app.get('/jobs', { schema: { tags: ['jobs'], summary: 'List jobs with their steps', querystring: JobQuery, response: { 200: JobListReply, ...ErrorResponses } } }, async (request) => {
    const q = request.query;
    const page = q.page ?? 1;
    const pageSize = q.page_size ?? 10;
    const statuses = STATUS_FILTER[q.status ?? 'all'];
    const result = engine.core.store.jobs.query({
      ...(statuses ? { statuses } : {}),
      ...(q.owner ? { ownerName: q.owner } : {}),
      ...(q.id ? { ownerId: q.id } : {}),
      ...(q.job_type ? { jobType: q.job_type } : {}),
      page,
      pageSize,
    });
    return { page_size: pageSize, total: result.total, data: result.items.map(jobItem) };
  });
}
