// The function app: a Flex Consumption (FC1) plan and a Linux Python 3.11 app on it,
// running as the user-assigned identity, with every app setting the code reads.
//
// Flex Consumption takes the runtime, scale and deployment package location from
// `functionAppConfig`, and rejects or ignores the app settings that used to carry them
// (FUNCTIONS_WORKER_RUNTIME, FUNCTIONS_EXTENSION_VERSION, WEBSITE_RUN_FROM_PACKAGE,
// WEBSITE_CONTENT*, WEBSITE_TIME_ZONE, ...): none of those are set here.

@description('Function app name; also its host name, so globally unique.')
param name string

@description('Hosting plan name.')
param planName string

@description('Region of the plan and the app.')
param location string

@description('Tags for the plan and the app.')
param tags object = {}

@description('The azure.yaml service this app hosts; azd finds the app by this tag.')
param serviceName string = 'api'

@description('Resource id of the user-assigned identity the app runs as.')
param identityId string

@description('Client id of that identity.')
param identityClientId string

@description('Storage account used by the host, the task hub and the ledger.')
param storageAccountName string

@description('Blob container holding the deployment package.')
param deploymentContainerName string

@description('Application Insights resource receiving telemetry.')
param appInsightsName string

@description('Azure OpenAI endpoint, https://<name>.openai.azure.com/.')
param openAiEndpoint string

@description('Azure OpenAI model deployment name.')
param openAiDeploymentName string

@description('Azure OpenAI data-plane API version (OPENAI_API_VERSION).')
param openAiApiVersion string

@description('Default model backend (ASSISTANT_BACKEND).')
@allowed([
  'responses'
  'assistants'
])
param assistantBackend string

@description('Durable Functions task hub name (TASKHUB_NAME, read by host.json).')
param taskHubName string

@description('Endpoint of the Durable Task Scheduler; empty keeps the Azure Storage backend of host.json.')
param durableTaskSchedulerEndpoint string = ''

@description('NCRONTAB schedule of the purge_leftovers timer trigger (PURGE_SCHEDULE), in UTC.')
param purgeSchedule string

@description('More app settings (POLL_INITIAL_MS, RUN_DEADLINE_SECONDS, ...). They cannot replace the ones set here.')
param extraAppSettings object = {}

@description('Most instances the app scales out to.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('Memory of each instance, in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

// With a scheduler, these app settings override host.json's durableTask.storageProvider
// (the host reads AzureFunctionsJobHost__<path> over host.json) and give the connection,
// made with the app's user-assigned identity.
var schedulerConnection = 'DURABLE_TASK_SCHEDULER_CONNECTION_STRING'
var schedulerOverrides = {
  AzureFunctionsJobHost__extensions__durableTask__storageProvider__type: 'azureManaged'
  AzureFunctionsJobHost__extensions__durableTask__storageProvider__connectionStringName: schedulerConnection
  DURABLE_TASK_SCHEDULER_CONNECTION_STRING: 'Endpoint=${durableTaskSchedulerEndpoint};Authentication=ManagedIdentity;ClientID=${identityClientId}'
}
var schedulerSettings = empty(durableTaskSchedulerEndpoint) ? {} : schedulerOverrides

// How many activities and orchestrator episodes one instance runs at once, by its size.
// Activities are I/O-bound (each waits on a model call or a tool, up to a minute) and the
// Python worker runs them on its thread pool, whose default size is min(32, vCPUs + 4):
// 5 threads on a 1-vCPU 2048 MB instance would hold back the 10 activities host.json
// admits, and a step's tool calls only run in parallel (where the app gains most on a
// plain loop, docs/bench.md) while threads are free. So the pool matches the limit.
// A start or submit that follows its model turn (MODEL_FOLLOW_SECONDS) holds its thread
// while the model writes, and a 16-call step should fan out at once next to it, so the
// limit is 32 (the worker's most threads) from 2048 MB on; a waiting thread costs no CPU.
// Orchestrator episodes are short CPU work (a replay); the same number keeps one busy
// instance from taking more runs than its activities can serve. Measured with
// `python -m bench.concurrency`: throughput stops growing at about 10 per core
// (docs/deploy.md, Concurrency per instance).
var concurrencyByMemory = {
  '512': 16
  '2048': 32
  '4096': 32
}
var concurrency = concurrencyByMemory[string(instanceMemoryMB)]
var concurrencySettings = {
  AzureFunctionsJobHost__extensions__durableTask__maxConcurrentActivityFunctions: string(concurrency)
  AzureFunctionsJobHost__extensions__durableTask__maxConcurrentOrchestratorFunctions: string(concurrency)
  PYTHON_THREADPOOL_THREAD_COUNT: string(concurrency)
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true // Linux
  }
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': serviceName })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    functionAppConfig: {
      deployment: {
        storage: {
          // azd uploads the package here; the platform reads it with the app's identity.
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }

  // The whole set of app settings: this resource replaces what is there, so a setting
  // added by hand in the portal is gone after the next `azd provision`. Put it in
  // extraAppSettings instead; it can change the concurrency settings, not the others.
  resource appSettings 'config' = {
    name: 'appsettings'
    properties: union(concurrencySettings, extraAppSettings, schedulerSettings, {
      // Host storage, used by the host and by Durable Functions, through the identity.
      // Service URIs rather than __accountName: the app's ledger reads the table URI.
      AzureWebJobsStorage__credential: 'managedidentity'
      AzureWebJobsStorage__clientId: identityClientId
      AzureWebJobsStorage__blobServiceUri: storage.properties.primaryEndpoints.blob
      AzureWebJobsStorage__queueServiceUri: storage.properties.primaryEndpoints.queue
      AzureWebJobsStorage__tableServiceUri: storage.properties.primaryEndpoints.table

      // Telemetry, authenticated with the identity (local auth is off on App Insights).
      // host.json has telemetryMode OpenTelemetry; with the flag, the Python worker sets
      // up Azure Monitor itself and sends the app's spans and logs directly (no second
      // copy of each log line through the host). durable_assistant/telemetry.py uses it.
      APPLICATIONINSIGHTS_CONNECTION_STRING: appInsights.properties.ConnectionString
      APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
      PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY: 'true'

      // DefaultAzureCredential in the app code picks the user-assigned identity by this.
      AZURE_CLIENT_ID: identityClientId

      // Azure OpenAI. No AZURE_OPENAI_API_KEY: the account has keys disabled.
      AZURE_OPENAI_ENDPOINT: openAiEndpoint
      AZURE_OPENAI_DEPLOYMENT: openAiDeploymentName
      OPENAI_API_VERSION: openAiApiVersion

      // HTTP streams (Server-Sent Events of GET /api/runs/{id}/events): the Python
      // worker serves the app's HTTP triggers with the FastAPI types only with this.
      PYTHON_ENABLE_INIT_INDEXING: '1'

      // The app.
      ASSISTANT_BACKEND: assistantBackend
      TASKHUB_NAME: taskHubName
      PURGE_SCHEDULE: purgeSchedule
    })
  }
}

@description('Function app name.')
output name string = app.name

@description('Base URL of the app.')
output uri string = 'https://${app.properties.defaultHostName}'
