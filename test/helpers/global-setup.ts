// Placeholder global setup for the integration project (the lead's version replaces it).
export default async function () {}
