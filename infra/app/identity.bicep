// The app's user-assigned managed identity. User-assigned rather than system-assigned so
// that it exists before the function app does: role assignments are created in parallel
// with the app, and the same client id is written into the app settings
// (AZURE_CLIENT_ID, AzureWebJobsStorage__clientId, the App Insights auth string).

@description('Name of the identity.')
param name string

@description('Region of the identity.')
param location string

@description('Tags for the identity.')
param tags object = {}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

@description('Resource id, for the app\'s `identity` block and its deployment storage.')
output id string = identity.id

@description('Client (application) id, what DefaultAzureCredential and the host ask for.')
output clientId string = identity.properties.clientId

@description('Object (principal) id, what role assignments are granted to.')
output principalId string = identity.properties.principalId
