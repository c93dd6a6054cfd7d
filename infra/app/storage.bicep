// The storage account behind the Functions host (AzureWebJobsStorage: keys, timer
// leases), the Durable Functions task hub (queues, tables, blob leases), the app's
// ledger table, and the Flex Consumption deployment package container.
//
// Shared keys are turned off: the app reaches it only with its managed identity and a
// developer only with their Entra ID sign-in, through the roles granted in rbac.bicep.

@description('Storage account name: 3-24 lowercase letters and digits, globally unique.')
@minLength(3)
@maxLength(24)
param name string

@description('Region of the account.')
param location string

@description('Tags for the account.')
param tags object = {}

@description('Blob container that Flex Consumption deploys the app package into.')
param deploymentContainerName string

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    allowSharedKeyAccess: false // Entra ID only: no account keys, no SAS signed with them
    defaultToOAuthAuthentication: true // the portal browses data with the signed-in user too
    allowBlobPublicAccess: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled' // Flex Consumption without a VNet reaches it publicly
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }

  resource blobService 'blobServices' = {
    name: 'default'

    resource deploymentContainer 'containers' = {
      name: deploymentContainerName
      properties: {
        publicAccess: 'None'
      }
    }
  }
}

@description('Storage account name.')
output name string = storage.name

@description('Blob endpoint, with a trailing slash.')
output blobEndpoint string = storage.properties.primaryEndpoints.blob

@description('Queue endpoint, with a trailing slash.')
output queueEndpoint string = storage.properties.primaryEndpoints.queue

@description('Table endpoint, with a trailing slash.')
output tableEndpoint string = storage.properties.primaryEndpoints.table
