// Seam's JavaScript SDK (@seamapi/http), unchanged, pointed at Latchkey: the main flows of a
// booking integration. Prints one JSON object of what it saw; the pytest test judges it.
import { SeamHttp } from '@seamapi/http'

const [endpoint, apiKey, lockId] = process.argv.slice(2)
const seam = SeamHttp.fromApiKey(apiKey, { endpoint, waitForActionAttempt: false })
const seen = {}

const start = new Date(Date.now() + 3 * 86400_000)
start.setUTCMilliseconds(0)
const end = new Date(start.getTime() + 2 * 86400_000)

seen.devices = (await seam.devices.list()).map((d) => d.device_id)
seen.device = (await seam.devices.get({ device_id: lockId })).display_name

const created = await seam.accessCodes.create({
  device_id: lockId,
  name: 'Ana Silva',
  code: '4821',
  starts_at: start.toISOString(),
  ends_at: end.toISOString(),
})
seen.created = { id: created.access_code_id, code: created.code, type: created.type }
seen.got = (await seam.accessCodes.get({ access_code_id: created.access_code_id })).name
seen.listed = (await seam.accessCodes.list({ device_id: lockId })).map((c) => c.access_code_id)
await seam.accessCodes.update({ access_code_id: created.access_code_id, name: 'Ana S.' })
seen.renamed = (await seam.accessCodes.get({ access_code_id: created.access_code_id })).name
seen.generated = (await seam.accessCodes.generateCode({ device_id: lockId })).code

const unmanaged = await seam.accessCodes.simulate.createUnmanagedAccessCode({
  device_id: lockId,
  name: 'Cleaner',
  code: '9051',
})
seen.unmanaged = (await seam.accessCodes.unmanaged.list({ device_id: lockId })).map((c) => c.access_code_id)
await seam.accessCodes.unmanaged.convertToManaged({ access_code_id: unmanaged.access_code_id })

const deleted = await seam.accessCodes.delete({ access_code_id: created.access_code_id })
seen.deleted = deleted === undefined ? 'ok' : deleted

seen.events = (await seam.events.list({ device_id: lockId })).map((e) => e.event_type)
seen.attempts = (await seam.actionAttempts.list({ device_id: lockId })).map((a) => a.action_type)

const hook = await seam.webhooks.create({ url: 'http://127.0.0.1:9/hook', event_types: ['access_code.created'] })
seen.webhooks = (await seam.webhooks.list()).map((w) => w.webhook_id).includes(hook.webhook_id)
await seam.webhooks.delete({ webhook_id: hook.webhook_id })

await seam.devices.simulate.disconnect({ device_id: lockId })
seen.offline = (await seam.devices.get({ device_id: lockId })).properties.online
await seam.devices.simulate.connect({ device_id: lockId })

try {
  await seam.accessCodes.get({ access_code_id: '9b0e1b5e-2f43-4c3b-9a51-39d7f8b7d1f1' })
} catch (error) {
  seen.missing = { name: error.name, type: error.code }
}

process.stdout.write(JSON.stringify(seen))
