// What `azd provision` creates for durable-assistant: one resource group with
//   - a user-assigned managed identity the app runs as,
//   - a storage account with shared keys off (host, Durable Functions task hub, ledger,
//     deployment package),
//   - Log Analytics + Application Insights with local auth off,
//   - an Azure OpenAI account with keys off and one model deployment (name, version and
//     deployment type asked for by azd),
//   - a Flex Consumption (FC1) Linux Python 3.11 function app,
//   - with durableBackend=DurableTaskScheduler, a Durable Task Scheduler and its task hub,
//   - the data-plane role assignments between them (app/rbac.bicep).
// No secret is created, stored or output anywhere: every call is made with Entra ID.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; goes into resource names and the azd-env-name tag.')
param environmentName string

// Regions offering both Flex Consumption (the list of Azure's own Flex Consumption azd
// quickstart, Azure-Samples/functions-quickstart-python-http-azd) and the default model,
// gpt-5.4-mini 2026-03-17, as GlobalStandard (Azure OpenAI "Global Standard model
// availability" matrix, read 2026-11). Another model may be offered in fewer regions:
// check it, or put the OpenAI account in a region that has it with openAiLocation.
@minLength(1)
@description('Region of every resource (except the OpenAI account when openAiLocation is set). Offers Flex Consumption and gpt-5.4-mini GlobalStandard.')
@allowed([
  'australiaeast'
  'brazilsouth'
  'canadacentral'
  'centralus'
  'eastus'
  'eastus2'
  'francecentral'
  'germanywestcentral'
  'italynorth'
  'japaneast'
  'koreacentral'
  'northcentralus'
  'norwayeast'
  'southafricanorth'
  'southcentralus'
  'southeastasia'
  'southindia'
  'spaincentral'
  'swedencentral'
  'uaenorth'
  'uksouth'
  'westeurope'
  'westus'
  'westus3'
])
@metadata({
  azd: {
    type: 'location'
    default: 'eastus2'
  }
})
param location string

@description('Region of the Azure OpenAI account; empty means `location`. It must offer the model as the chosen deployment type, and the Responses API.')
param openAiLocation string = ''

@description('Object id of whoever runs azd. It gets the same data roles as the app, to run the app locally against these resources. Empty grants nothing.')
param principalId string = ''

@description('Kind of principal principalId is: User for a person, ServicePrincipal for CI.')
@allowed([
  'User'
  'ServicePrincipal'
])
param principalType string = 'User'

// The model: no Bicep default, so `azd provision` asks for each (and keeps the answers
// in .azure/<env>/config.json); azd offers the value in `default` first. The defaults are
// the smallest current model that a new subscription can still deploy: gpt-5.4-mini
// 2026-03-17 is GA with retirement 2027-03-18 in Azure's model retirement schedule (read
// 2026-11), where gpt-4o-mini 2024-07-18 and gpt-4.1-mini 2025-04-14 are deprecated or
// retired. docs/deploy.md has the table and the sources.
@description('Model to deploy. Current default: gpt-5.4-mini.')
@metadata({
  azd: {
    default: 'gpt-5.4-mini'
  }
})
param openAiModelName string

@description('Model version to deploy (pinned). Current default: 2026-03-17 (the version of gpt-5.4-mini).')
@metadata({
  azd: {
    default: '2026-03-17'
  }
})
param openAiModelVersion string

@description('Deployment type of the model. Current default: GlobalStandard.')
@allowed([
  'GlobalStandard'
  'DataZoneStandard'
  'Standard'
])
@metadata({
  azd: {
    default: 'GlobalStandard'
  }
})
param openAiDeploymentSku string

@description('Name of the model deployment, the app setting AZURE_OPENAI_DEPLOYMENT.')
param openAiDeploymentName string = openAiModelName

@description('Capacity of the model deployment, in thousands of tokens per minute.')
@minValue(1)
param openAiDeploymentCapacity int = 30

// Only the Assistants backend sends an api-version (the Responses backend calls the v1
// API at /openai/v1/, which takes none). 2024-05-01-preview is the first version serving
// Assistants v2, and the app's own default: the same value everywhere.
@description('Azure OpenAI data-plane API version of the Assistants calls, the app setting OPENAI_API_VERSION.')
param openAiApiVersion string = '2024-05-01-preview'

// Azure retired its Assistants API on 2026-08-26: `assistants` works against the local
// emulator only. Responses is the backend for Azure.
@description('Default model backend of the app (ASSISTANT_BACKEND); a request can ask for the other. Azure serves Responses only.')
@allowed([
  'responses'
  'assistants'
])
param assistantBackend string = 'responses'

// The durable backend. AzureStorage: the storage account's queues and tables (no extra
// resource). DurableTaskScheduler: a managed scheduler (app/scheduler.bicep), reached
// with the app's identity; host.json is switched to it by app settings that override its
// storageProvider (app/api.bicep). docs/deploy.md says when to switch.
@description('Durable Functions backend: AzureStorage (default) or DurableTaskScheduler.')
@allowed([
  'AzureStorage'
  'DurableTaskScheduler'
])
param durableBackend string = 'AzureStorage'

@description('Durable Task Scheduler SKU, when durableBackend is DurableTaskScheduler.')
@allowed([
  'Consumption'
  'Dedicated'
])
param durableTaskSchedulerSku string = 'Consumption'

@description('Days the Durable Task Scheduler keeps a finished orchestration\'s history; keep it equal to HISTORY_RETENTION_DAYS (default 7).')
@minValue(1)
param durableHistoryRetentionDays int = 7

@description('Durable Functions task hub name (TASKHUB_NAME): 3-45 letters and digits, starting with a letter.')
@minLength(3)
@maxLength(45)
param taskHubName string = 'durableassistant'

// Flex Consumption does not support WEBSITE_TIME_ZONE: schedules are in UTC.
@description('NCRONTAB schedule (six fields, UTC) of the purge_leftovers timer trigger (PURGE_SCHEDULE).')
param purgeSchedule string = '0 0 3 * * *'

@description('More app settings for the function app, e.g. {"RUN_DEADLINE_SECONDS": "900"}. They cannot replace the settings this template sets.')
param extraAppSettings object = {}

@description('Most instances the function app scales out to.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('Memory of each function app instance, in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

// Names: a type prefix and a token that is stable for (subscription, environment,
// location), so re-provisioning the same environment updates the same resources.
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}
var names = {
  resourceGroup: 'rg-${environmentName}'
  identity: 'id-api-${resourceToken}'
  storage: 'st${resourceToken}'
  deploymentContainer: 'app-package-${resourceToken}'
  logAnalytics: 'log-${resourceToken}'
  appInsights: 'appi-${resourceToken}'
  openAi: 'oai-${resourceToken}'
  plan: 'plan-${resourceToken}'
  functionApp: 'func-api-${resourceToken}'
  scheduler: 'dts-${resourceToken}'
}
var useScheduler = durableBackend == 'DurableTaskScheduler'

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: names.resourceGroup
  location: location
  tags: tags
}

module identity 'app/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: names.identity
    location: location
    tags: tags
  }
}

module storage 'app/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: names.storage
    location: location
    tags: tags
    deploymentContainerName: names.deploymentContainer
  }
}

module monitoring 'app/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: names.logAnalytics
    appInsightsName: names.appInsights
    location: location
    tags: tags
  }
}

module openAi 'app/openai.bicep' = {
  name: 'openai'
  scope: rg
  params: {
    name: names.openAi
    location: empty(openAiLocation) ? location : openAiLocation
    tags: tags
    deploymentName: openAiDeploymentName
    modelName: openAiModelName
    modelVersion: openAiModelVersion
    deploymentSku: openAiDeploymentSku
    capacity: openAiDeploymentCapacity
  }
}

module scheduler 'app/scheduler.bicep' = if (useScheduler) {
  name: 'scheduler'
  scope: rg
  params: {
    name: names.scheduler
    location: location
    tags: tags
    taskHubName: taskHubName
    skuName: durableTaskSchedulerSku
    retentionDays: durableHistoryRetentionDays
  }
}

module api 'app/api.bicep' = {
  name: 'api'
  scope: rg
  params: {
    name: names.functionApp
    planName: names.plan
    location: location
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerName: names.deploymentContainer
    appInsightsName: monitoring.outputs.appInsightsName
    openAiEndpoint: openAi.outputs.endpoint
    openAiDeploymentName: openAi.outputs.deploymentName
    openAiApiVersion: openAiApiVersion
    assistantBackend: assistantBackend
    taskHubName: taskHubName
    durableTaskSchedulerEndpoint: useScheduler ? scheduler.outputs.endpoint : ''
    purgeSchedule: purgeSchedule
    extraAppSettings: extraAppSettings
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
  }
}

module rbac 'app/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
    openAiAccountName: openAi.outputs.name
    appInsightsName: monitoring.outputs.appInsightsName
    schedulerName: useScheduler ? scheduler.outputs.name : ''
    appPrincipalId: identity.outputs.principalId
    developerPrincipalId: principalId
    developerPrincipalType: principalType
  }
}

// azd stores these in .azure/<env>/.env (`azd env get-values`). The ones named like app
// settings are what a local.settings.json needs to run the app against this environment.
// The identity's client id is deliberately not output as AZURE_CLIENT_ID: locally,
// DefaultAzureCredential must use the developer's sign-in, not look for that identity.
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = api.outputs.name
output SERVICE_API_NAME string = api.outputs.name
output SERVICE_API_URI string = api.outputs.uri
output AZURE_API_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output AZURE_OPENAI_ENDPOINT string = openAi.outputs.endpoint
output AZURE_OPENAI_DEPLOYMENT string = openAi.outputs.deploymentName
output OPENAI_API_VERSION string = openAiApiVersion
output ASSISTANT_BACKEND string = assistantBackend
output TASKHUB_NAME string = taskHubName
output DURABLE_BACKEND string = durableBackend
output DURABLE_TASK_SCHEDULER_ENDPOINT string = useScheduler ? scheduler.outputs.endpoint : ''
output PURGE_SCHEDULE string = purgeSchedule
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output AZURE_STORAGE_BLOB_ENDPOINT string = storage.outputs.blobEndpoint
output AZURE_STORAGE_QUEUE_ENDPOINT string = storage.outputs.queueEndpoint
output AZURE_STORAGE_TABLE_ENDPOINT string = storage.outputs.tableEndpoint
output APPLICATIONINSIGHTS_CONNECTION_STRING string = monitoring.outputs.appInsightsConnectionString
