// Every permission the app has, granted here and nowhere else: data-plane roles for the
// app's managed identity and, optionally, for the developer who runs azd (so the same
// app can run locally against these resources with `az login`).
//
// One table says who gets what on which resource. Bicep needs a resource symbol, not an
// expression, as the scope of a role assignment (a ternary `scope:` is silently dropped
// on compile, Azure/bicep#17157), so the table is applied by one loop per target
// resource. Each assignment is scoped to its resource, not the resource group.

@description('Storage account of the host, the task hub and the ledger.')
param storageAccountName string

@description('Azure OpenAI account.')
param openAiAccountName string

@description('Application Insights resource.')
param appInsightsName string

@description('Durable Task Scheduler; empty when the app uses the Azure Storage backend.')
param schedulerName string = ''

@description('Object id of the app\'s managed identity.')
param appPrincipalId string

@description('Object id of the developer (or CI principal) running azd; empty grants nothing.')
param developerPrincipalId string = ''

@description('Kind of principal developerPrincipalId is.')
@allowed([
  'User'
  'ServicePrincipal'
])
param developerPrincipalType string = 'User'

// Built-in role definition ids; the same in every tenant.
var role = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b' // host keys/leases, deployment package
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88' // Durable Functions queues
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3' // task hub history, ledger
  cognitiveServicesOpenAiUser: '5e0bd9bd-7b93-4f28-af87-19fc36ad61bd' // inference + assistants/responses, no keys, no management
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb' // Entra-authenticated telemetry ingestion
  durableTaskDataContributor: '0ad04412-c4d5-4796-b79c-f76d14c8d402' // orchestrations on the scheduler, and its dashboard
}

// Who. The managed identity is declared a ServicePrincipal so ARM does not look it up in
// Entra ID first, which can fail for an identity created seconds earlier.
var app = {
  id: appPrincipalId
  type: 'ServicePrincipal'
}
var developer = {
  id: developerPrincipalId
  type: developerPrincipalType
}
var principals = empty(developerPrincipalId) ? [app] : [app, developer]

// What, on which resource: the table.
var grants = {
  storage: [
    role.storageBlobDataOwner
    role.storageQueueDataContributor
    role.storageTableDataContributor
  ]
  openAi: [
    role.cognitiveServicesOpenAiUser
  ]
  appInsights: [
    role.monitoringMetricsPublisher
  ]
  scheduler: empty(schedulerName) ? [] : [
    role.durableTaskDataContributor
  ]
}

// Every (principal, role) pair for one target.
func pairs(who array, roleIds array) array =>
  flatten(map(who, p => map(roleIds, r => {
    principalId: p.id
    principalType: p.type
    roleId: r
  })))

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource openAi 'Microsoft.CognitiveServices/accounts@2024-10-01' existing = {
  name: openAiAccountName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

resource scheduler 'Microsoft.DurableTask/schedulers@2026-02-01' existing = if (!empty(schedulerName)) {
  name: schedulerName
}

resource storageGrants 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for a in pairs(principals, grants.storage): {
    name: guid(storage.id, a.principalId, a.roleId)
    scope: storage
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', a.roleId)
      principalId: a.principalId
      principalType: a.principalType
    }
  }
]

resource openAiGrants 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for a in pairs(principals, grants.openAi): {
    name: guid(openAi.id, a.principalId, a.roleId)
    scope: openAi
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', a.roleId)
      principalId: a.principalId
      principalType: a.principalType
    }
  }
]

resource appInsightsGrants 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for a in pairs(principals, grants.appInsights): {
    name: guid(appInsights.id, a.principalId, a.roleId)
    scope: appInsights
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', a.roleId)
      principalId: a.principalId
      principalType: a.principalType
    }
  }
]

resource schedulerGrants 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for a in pairs(principals, grants.scheduler): {
    name: guid(scheduler.id, a.principalId, a.roleId)
    scope: scheduler
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', a.roleId)
      principalId: a.principalId
      principalType: a.principalType
    }
  }
]
