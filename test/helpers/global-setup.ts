// Placeholder until the lead's global setup lands (see helper-common.md).
export default async function (): Promise<void> {}
