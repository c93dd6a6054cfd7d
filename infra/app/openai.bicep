// The Azure OpenAI account and the one model deployment the app talks to.
//
// Keys are disabled: callers use Entra ID tokens for the scope
// https://cognitiveservices.azure.com/.default, which requires a custom subdomain
// (the regional endpoint does not accept tokens).

@description('Account name; also its custom subdomain, so globally unique.')
@minLength(2)
@maxLength(64)
param name string

@description('Region of the account. It must offer the model, the deployment SKU and the Responses API.')
param location string

@description('Tags for the account.')
param tags object = {}

@description('Name of the model deployment (the app setting AZURE_OPENAI_DEPLOYMENT).')
param deploymentName string

@description('Model name.')
param modelName string

@description('Model version, pinned.')
param modelVersion string

@description('Deployment type.')
@allowed([
  'GlobalStandard'
  'DataZoneStandard'
  'Standard'
])
param deploymentSku string

@description('Deployment capacity, in thousands of tokens per minute.')
@minValue(1)
param capacity int

resource account 'Microsoft.CognitiveServices/accounts@2024-10-01' = {
  name: name
  location: location
  tags: tags
  kind: 'OpenAI'
  sku: {
    name: 'S0'
  }
  properties: {
    customSubDomainName: name // required for Entra ID authentication
    disableLocalAuth: true // no API keys: managed identity (or a developer's az login) only
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
    }
  }
}

resource deployment 'Microsoft.CognitiveServices/accounts/deployments@2024-10-01' = {
  parent: account
  name: deploymentName
  sku: {
    name: deploymentSku
    capacity: capacity
  }
  properties: {
    model: {
      format: 'OpenAI'
      name: modelName
      version: modelVersion
    }
    // Keep the pinned version until Azure retires it, rather than moving to each new
    // default: a model change is a behaviour change for the tool-calling loop.
    versionUpgradeOption: 'OnceCurrentVersionExpired'
  }
}

@description('Account name.')
output name string = account.name

@description('Endpoint, https://<name>.openai.azure.com/ (the app setting AZURE_OPENAI_ENDPOINT).')
output endpoint string = account.properties.endpoint

@description('Name of the model deployment.')
output deploymentName string = deployment.name
