// The Durable Task Scheduler: the managed backend of Durable Functions, used instead of
// the storage account's queues and tables when durableBackend is DurableTaskScheduler.
// One scheduler, the app's task hub on it, and a retention policy that purges finished
// orchestrations' history after as many days as the app's own purge keeps it
// (HISTORY_RETENTION_DAYS). The data role for the app's identity is in rbac.bicep.

@description('Scheduler name: 3-64 letters, digits and hyphens.')
@minLength(3)
@maxLength(64)
param name string

@description('Region of the scheduler; the same as the app keeps every call in-region.')
param location string

@description('Tags for the scheduler.')
param tags object = {}

@description('Task hub name, the app setting TASKHUB_NAME (host.json hubName).')
param taskHubName string

@description('Billing SKU: Consumption (pay per action) or Dedicated (reserved capacity units).')
@allowed([
  'Consumption'
  'Dedicated'
])
param skuName string = 'Consumption'

@description('Capacity units of a Dedicated scheduler (ignored for Consumption).')
@minValue(1)
param capacity int = 1

@description('Days a finished orchestration\'s history is kept before the scheduler purges it.')
@minValue(1)
param retentionDays int = 7

var skus = {
  Consumption: {
    name: 'Consumption'
  }
  Dedicated: {
    name: 'Dedicated'
    capacity: capacity
  }
}

resource scheduler 'Microsoft.DurableTask/schedulers@2026-02-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    sku: skus[skuName]
    // The app reaches the scheduler over the public endpoint, with its identity (an empty
    // list would refuse every caller).
    ipAllowlist: [
      '0.0.0.0/0'
    ]
  }

  resource taskHub 'taskHubs' = {
    name: taskHubName
    properties: {}
  }

  resource retention 'retentionPolicies' = {
    name: 'default'
    properties: {
      retentionPolicies: [
        {
          retentionPeriodInDays: retentionDays
        }
      ]
    }
  }
}

@description('Scheduler name.')
output name string = scheduler.name

@description('Endpoint the app connects to, https://<name>.<region>.durabletask.io.')
output endpoint string = scheduler.properties.endpoint
